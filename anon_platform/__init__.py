"""anon_platform: sensitive tables in, gated synthetic releases and latent encodings out."""

__version__ = "0.1.0"
