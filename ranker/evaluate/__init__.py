"""The evaluate stage: score a model as a finetuning starting point with the MNLI linear probe.

`run.evaluate_model` is the entry point; only `features` imports torch and transformers, so the
rest (data, probe, loading checks) stays importable and testable without them.
"""
