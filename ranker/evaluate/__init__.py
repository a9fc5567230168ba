"""The evaluate room: score a model as a finetuning starting point with the MNLI linear probe.

`evaluator.Evaluator` is evaluation as one object (probe data, options, the hub door passed in,
bounded caches); `run.evaluate_model` is the plain function over it, returning a record and
writing nothing. Only `features` imports torch and transformers, so the rest (data, probe,
file checks) stays importable and testable without them.
"""
