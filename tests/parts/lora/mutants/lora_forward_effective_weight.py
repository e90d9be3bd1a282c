"""forward runs a plain linear with the effective weight W0 + delta_weight(), forming the [out, in] matrix each call."""

MODULE = "lora"
CAUGHT_BY = ['lora/no_materialise', 'lora/dropout']
PATCH = [
    ('        bottleneck = F.linear(self.dropout(x), self.lora_A) * self.scaling\n        # result + bottleneck @ B.T as one fused multiply-add on 2-D views: no extra [..., out] tensor.\n        # (F.linear for A and B.T for B also give the backward pass its fast matrix layouts on CPU.)\n        fused = torch.addmm(result.reshape(-1, result.shape[-1]), bottleneck.reshape(-1, bottleneck.shape[-1]),\n                            self.lora_B.T)\n        return fused.view(result.shape)\n',
     '        return nn.functional.linear(x, self.base.weight + self.delta_weight(), self.base.bias)\n'),
]
