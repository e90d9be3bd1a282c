"""train_adapter clears the gradients between backward() and optimizer.step(), so the adapter never changes and the loss never falls."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ("        loss.backward()\n"
     "        torch.nn.utils.clip_grad_norm_(trainable, 1.0)\n"
     "        optimizer.step()\n"
     "        optimizer.zero_grad(set_to_none=True)\n",
     "        loss.backward()\n"
     "        optimizer.zero_grad(set_to_none=True)\n"
     "        torch.nn.utils.clip_grad_norm_(trainable, 1.0)\n"
     "        optimizer.step()\n"),
]
