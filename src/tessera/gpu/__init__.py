"""GPU sharing mechanisms: latency profiles and the latency predictor (FaST-GShare, HAS-GPU).

Import-light on purpose: nothing here imports torch; submodules are imported by name
(`tessera.gpu.profiles`, `tessera.gpu.predict`).
"""
