"""forward forms the full [out, in] matrix B @ A, x @ (B @ A).T, instead of going through the rank-r bottleneck."""

MODULE = "lora"
CAUGHT_BY = ['lora/no_materialise']
PATCH = [
    ('        bottleneck = F.linear(self.dropout(x), self.lora_A) * self.scaling\n        # result + bottleneck @ B.T as one fused multiply-add on 2-D views: no extra [..., out] tensor.\n        # (F.linear for A and B.T for B also give the backward pass its fast matrix layouts on CPU.)\n        fused = torch.addmm(result.reshape(-1, result.shape[-1]), bottleneck.reshape(-1, bottleneck.shape[-1]),\n                            self.lora_B.T)\n        return fused.view(result.shape)\n',
     '        return result + self.scaling * (self.dropout(x) @ (self.lora_B @ self.lora_A).T)\n'),
]
