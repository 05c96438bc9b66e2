"""Differential privacy building blocks: Gaussian-mechanism calibration, a Gaussian-DP
accountant, DP domains and encodings, DP clustering of records and the DP adapt step."""
