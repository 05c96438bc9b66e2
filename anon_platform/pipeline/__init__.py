"""The pipeline layer: one function per step over the ANON_HOME workspace, and its policies.

steps.py         ingest -> stage -> prepare -> train -> synthesize -> report -> release
latent_steps.py  train encoder -> encode -> gate -> release latent codes
stored.py        reading back what the steps stored
release_policy.py, evaluation_policy.py   which generator a release takes; how hard to measure

Each step reads what earlier steps wrote and publishes its own output whole, sealed with the
digests of what it read (anon_platform/evidence.py). The Dagster layer and the CLI are thin
shells over these functions; nothing here imports Dagster.
"""
