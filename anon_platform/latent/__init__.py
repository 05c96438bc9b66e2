"""Latent encodings: an autoencoder whose encoder is released (with its codes) and whose decoder
stays in the restricted zone. One job per module: preprocessing, model, export, noise,
similarity, utility, attacks; pipeline.py holds the functions the assets and the CLI call."""
