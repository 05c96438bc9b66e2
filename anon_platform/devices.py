"""Where torch work runs: CUDA when a card is present (and not switched off), else the CPU."""

from __future__ import annotations

import os


def torch_device(requested: str = "auto") -> str:
    """'cuda' or 'cpu' for `requested` in {'auto', 'cuda', 'cpu'}.

    'auto' picks CUDA when torch sees a card, unless ANON_DEVICE=cpu is set. Asking for 'cuda'
    without a card falls back to the CPU rather than failing a scheduled run.
    """
    import torch

    choice = os.environ.get("ANON_DEVICE", requested) if requested == "auto" else requested
    if choice not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device must be 'auto', 'cuda' or 'cpu', not '{choice}'")
    if choice == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
