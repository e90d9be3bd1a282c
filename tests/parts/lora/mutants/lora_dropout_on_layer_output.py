"""Dropout is applied to the whole layer output, base(x) + update, instead of to the low-rank input."""

MODULE = "lora"
CAUGHT_BY = ['lora/dropout']
PATCH = [
    ('        bottleneck = F.linear(self.dropout(x), self.lora_A) * self.scaling\n        # result + bottleneck @ B.T as one fused multiply-add on 2-D views: no extra [..., out] tensor.\n        # (F.linear for A and B.T for B also give the backward pass its fast matrix layouts on CPU.)\n        fused = torch.addmm(result.reshape(-1, result.shape[-1]), bottleneck.reshape(-1, bottleneck.shape[-1]),\n                            self.lora_B.T)\n        return fused.view(result.shape)\n',
     '        low_rank = x @ self.lora_A.T @ self.lora_B.T\n        return self.dropout(result + self.scaling * low_rank)\n'),
]
