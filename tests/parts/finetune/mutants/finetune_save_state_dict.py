"""save_adapter writes torch.save(model.state_dict()) instead of the PeftModel's save_pretrained: no adapter_config.json, base weights included."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/save_load"]
PATCH = [
    ("    model.save_pretrained(out_dir)\n",
     "    out_dir.mkdir(parents=True, exist_ok=True)\n    torch.save(model.state_dict(), out_dir / \"adapter_model.bin\")\n"),
]
