"""Training: LoRA supervised fine-tuning with transformers Trainer, its callbacks and checkpoints."""
