"""Per-user customization: LoRA adapters over one base encoder, and a bank of them."""
