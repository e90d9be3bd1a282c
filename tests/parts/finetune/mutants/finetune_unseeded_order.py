"""train_adapter shuffles the rows with Python's unseeded random module, so the data order (and the losses) change between runs with the same seed."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ("import math\n", "import math\nimport random\n"),
    ("                self.queue = torch.randperm(self.size, generator=self.generator).tolist()\n",
     "                self.queue = random.sample(range(self.size), self.size)\n"),
]
