"""physlora: measure, LoRA fine-tune and re-measure small LLMs on physics questions."""

__version__ = "0.1.0"
