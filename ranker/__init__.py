"""ranker: ranks hub models per architecture by their value as a finetuning starting point."""

__version__ = "0.1.0"
