"""`autoregressive`: the platform's own order-agnostic autoregressive generator (torch).

encoding.py discretizes columns with value protection, network.py is the network, training.py
its mini-batch training loop, model.py the generator behind the platform's interface.
"""

from anon_platform.generators.autoregressive.model import (
    AutoregressiveGenerator,
    AutoregressiveParams,
)

__all__ = ["AutoregressiveGenerator", "AutoregressiveParams"]
