"""Small helpers every layer may use: one job per module, no platform imports of their own.

progress   ProgressEvent and the progress callback type of long steps (training)
seeding    `seeded`: one seed for Python, NumPy and torch around a call
frames     conversion between polars frames and the pandas / SDV metadata libraries need
spelling   `did_you_mean` for errors about a misspelt name
"""
