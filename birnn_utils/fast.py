"""A fast bidirectional GRU: PyTorch's equations and layout, a hand-written backward pass.

``FastBiGRU`` is a drop-in ``nn.GRU(bidirectional=True)``: same constructor, same
``state_dict``, same ``(output, h_n)``. Each layer is one ``torch.autograd.Function``
(``BiGRULayerFunction``) whose forward runs the recurrence without autograd and whose
backward is backpropagation through time derived by hand (chapter 8). With gates
``r, z, n`` (PyTorch's order), pre-activations ``a_r, a_z, a_n`` with
``a_n = W_in x + b_in + r * hn``, ``hn = W_hn h + b_hn``, and ``dh' = dL/dh'``::

    h' = (1 - z) * n + z * h
    dL/da_r = dh' * (1 - z)(1 - n^2) * hn * r(1 - r)
    dL/da_z = dh' * (h - n) * z(1 - z)
    dL/da_n = dh' * (1 - z)(1 - n^2)
    dL/dh   = dh' * z + [dL/da_r, dL/da_z, dL/da_n * r] @ W_hh

Everything but ``dh'`` is known after the forward pass, so those factors are computed for
all steps at once, and a backward step is three small ops. Weight gradients are a few
large matrix products after the time loop.

Speed comes from: one batched GEMM for the input projection of all steps and both
directions; both directions advanced together (one ``bmm`` over a batch of 2); buffers
allocated once, zero-filled in bulk and written in place (page faults out of the loop);
every per-step ``bmm`` output a contiguous slice.

``LoopBiGRU`` and ``BulkLoopBiGRU`` are the same interface with the plainest hand-written
BPTT (the baselines of chapter 8 and ``make bench``, which measure them with
``birnn_utils.benchmarking``).
"""

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


class BiGRULayerFunction(torch.autograd.Function):
    """One bidirectional GRU layer, time-major, with a hand-written backward.

    ``apply(x, h0, w_ih_f, w_hh_f, b_ih_f, b_hh_f, w_ih_b, w_hh_b, b_ih_b, b_hh_b)``
    with x (T, B, I), h0 (2, B, H) (forward direction first), weights in nn.GRU's layout
    (w_ih (3H, I), w_hh (3H, H), b_* (3H,) or all four biases None) -> output (T, B, 2H),
    h_n (2, B, H). Not twice differentiable.
    """

    zero_fill = True  # touch the forward's buffers in bulk first; False only to measure it

    @staticmethod
    def forward(ctx, x, h0, w_ih_f, w_hh_f, b_ih_f, b_hh_f, w_ih_b, w_hh_b, b_ih_b, b_hh_b):
        seq_len, batch, input_size = x.shape
        H = w_hh_f.shape[1]
        H2, H3 = 2 * H, 3 * H
        has_bias = b_ih_f is not None
        w_ih = torch.stack((w_ih_f, w_ih_b))  # (2, 3H, I)
        w_hh_t = torch.stack((w_hh_f.t(), w_hh_b.t()))  # (2, H, 3H)
        reverse = torch.arange(seq_len - 1, -1, -1, device=x.device)  # time index, backwards
        # Both directions in "step order": step t of direction 1 reads x[T-1-t].
        x_steps = x.new_empty(2, seq_len, batch, input_size)
        x_steps[0] = x
        x_steps[1].index_copy_(0, reverse, x)
        x_steps = x_steps.view(2, seq_len * batch, input_size)
        # Input projection for every step and both directions: one batched GEMM. Its output
        # columns are [what the step adds to W_hh h: W_ir x + b_ir + b_hr | W_iz x + b_iz + b_hz
        # | b_hn] and then [W_in x + b_in]; a zero block of weights yields the b_hn column.
        w_ext = w_ih.new_zeros(2, input_size, 4 * H)  # (2, I, 4H), the transposed weights
        w_ext[..., :H2] = w_ih[:, :H2].transpose(1, 2)
        w_ext[..., H3:] = w_ih[:, H2:].transpose(1, 2)
        gi = torch.bmm(x_steps, w_ext).view(2, seq_len, batch, 4 * H)  # (2, T, B, 4H)
        if has_bias:
            b_ih = torch.stack((b_ih_f, b_ih_b))  # (2, 3H)
            b_hh = torch.stack((b_hh_f, b_hh_b))  # (2, 3H)
            b_ext = torch.cat((b_ih[:, :H2] + b_hh[:, :H2], b_hh[:, H2:], b_ih[:, H2:]), dim=1)
            gi += b_ext[:, None, None, :]
        # Buffers allocated once and zero-filled in bulk, so that their page faults are not
        # taken inside the loop: no difference on a quiet machine, a large one on a busy one.
        alloc = x.new_zeros if BiGRULayerFunction.zero_fill else x.new_empty
        gates = alloc(seq_len, 2, batch, H3)  # step-major: r | z | W_hn h + b_hn
        n = alloc(seq_len, 2, batch, H)  # candidate state
        hs = alloc(2, seq_len + 1, batch, H)  # hs[:, t]: state before step t
        hs[:, 0] = h0
        # Per-step views made up front (slicing in the loop costs Python time).
        steps = zip(
            hs.unbind(1)[:-1],  # h (2, B, H)
            hs.unbind(1)[1:],  # h' (2, B, H)
            gates.unbind(0),  # (2, B, 3H)
            gates[..., :H2].unbind(0),  # r | z
            gates[..., :H].unbind(0),  # r
            gates[..., H:H2].unbind(0),  # z
            gates[..., H2:].unbind(0),  # W_hn h + b_hn
            gi[..., :H3].unbind(1),  # added to W_hh h
            gi[..., H3:].unbind(1),  # W_in x + b_in
            n.unbind(0),
            strict=True,
        )
        for h, h_next, g, g_rz, r, z, h_n_part, gi_add, gi_n, n_t in steps:
            torch.bmm(h, w_hh_t, out=g)  # both directions in one bmm
            g.add_(gi_add)
            g_rz.sigmoid_()
            torch.addcmul(gi_n, r, h_n_part, out=n_t).tanh_()
            torch.lerp(n_t, h, z, out=h_next)  # n + z * (h - n)
        output = x.new_empty(seq_len, batch, H2)  # (T, B, 2H), time order
        output[..., :H] = hs[0, 1:]
        output[..., H:].index_copy_(0, reverse, hs[1, 1:])
        h_n = hs[:, seq_len].clone()  # (2, B, H)
        ctx.has_bias = has_bias
        ctx.scratch = gi.view(-1)[: 2 * seq_len * batch * H3]  # the backward reuses it
        ctx.save_for_backward(x_steps, w_ih, w_hh_t, hs, gates, n, reverse)
        return output, h_n

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_output, d_h_n):
        x_steps, w_ih, w_hh_t, hs, gates, n, reverse = ctx.saved_tensors
        _, seq_len_p1, batch, H = hs.shape
        seq_len, H2 = seq_len_p1 - 1, 2 * H
        input_size = x_steps.shape[-1]
        w_hh = w_hh_t.transpose(1, 2)  # (2, 3H, H)
        # Gradient reaching each state, step-major, in step order: dh[t + 1] = dL/d hs[:, t + 1].
        dh = hs.new_zeros(seq_len + 1, 2, batch, H)
        if d_output is not None:
            dh[1:, 0] = d_output[..., :H]
            dh[1:, 1].index_copy_(0, reverse, d_output[..., H:])
        if d_h_n is not None:
            dh[seq_len] += d_h_n
        # Factors of dh' that do not depend on dh', for all steps at once, in place.
        gates_dir = gates.transpose(0, 1)  # (2, T, B, 3H) view
        r, z, h_n_part = gates_dir[..., :H], gates_dir[..., H:H2], gates_dir[..., H2:]
        n_dir = n.transpose(0, 1)  # (2, T, B, H) view
        scratch, ctx.scratch = ctx.scratch, None
        if scratch is None:  # a second backward (retain_graph=True)
            scratch = hs.new_empty(2 * seq_len * batch * 3 * H)
        coef = scratch.view(2, seq_len, batch, 3, H)  # gate order r, z, n
        d_an = hs.new_empty(2, seq_len, batch, H)  # dir-major, for the GEMMs below
        torch.mul(n_dir, n_dir, out=d_an).neg_().add_(1)  # 1 - n^2
        d_an.addcmul_(d_an, z, value=-1)  # dh'/d a_n = (1 - z)(1 - n^2)
        c_r, c_z, c_n = coef[..., 0, :], coef[..., 1, :], coef[..., 2, :]
        torch.mul(d_an, h_n_part, out=c_r).mul_(r)
        c_r.addcmul_(c_r, r, value=-1)  # (1 - z)(1 - n^2) hn r (1 - r)
        torch.sub(hs[:, :seq_len], n_dir, out=c_z).mul_(z)
        c_z.addcmul_(c_z, z, value=-1)  # (h - n) z (1 - z)
        torch.mul(d_an, r, out=c_n)  # (1 - z)(1 - n^2) r
        # The time loop: coef[:, t] becomes dL/d(W_hh h + b_hh) of step t, in place.
        steps = zip(
            dh.unbind(0)[1:],
            dh.unbind(0)[:-1],
            coef.unbind(1),
            gates[..., H:H2].unbind(0),
            strict=True,
        )
        for d, d_prev, g, z_t in reversed(list(steps)):  # (2, B, H), (2, B, H), (2, B, 3, H)
            g.mul_(d.unsqueeze(2))
            d_prev.addcmul_(d, z_t).baddbmm_(g.view(2, batch, 3 * H), w_hh)
        d_gh = scratch.view(2, seq_len * batch, 3 * H)  # dL/d(W_hh h + b_hh), all steps
        d_gi_rz = d_gh[..., :H2]  # dL/d(W_ih x + b_ih) for r and z: the same
        d_gi_n = d_an.mul_(dh[1:].transpose(0, 1)).view(2, seq_len * batch, H)
        need = ctx.needs_input_grad
        dx = dh0 = None
        if need[0]:
            dx_steps = torch.bmm(d_gi_rz, w_ih[:, :H2]).baddbmm_(d_gi_n, w_ih[:, H2:])
            dx_steps = dx_steps.view(2, seq_len, batch, input_size)
            dx = dx_steps[0].index_add_(0, reverse, dx_steps[1])  # back to time order
        if need[1]:
            dh0 = dh[0]
        # Weight gradients: a few batched GEMMs over all steps at once.
        d_w_ih = torch.cat(
            (
                torch.bmm(d_gi_rz.transpose(1, 2), x_steps),
                torch.bmm(d_gi_n.transpose(1, 2), x_steps),
            ),
            dim=1,
        )  # (2, 3H, I)
        h_prev = hs[:, :seq_len].reshape(2, seq_len * batch, H)
        d_w_hh = torch.bmm(d_gh.transpose(1, 2), h_prev)  # (2, 3H, H)
        if ctx.has_bias:
            d_b_hh = d_gh.sum(1)  # (2, 3H)
            d_b_ih = torch.cat((d_b_hh[:, :H2], d_gi_n.sum(1)), dim=1)
            per_dir = [(d_w_ih[k], d_w_hh[k], d_b_ih[k], d_b_hh[k]) for k in range(2)]
        else:
            per_dir = [(d_w_ih[k], d_w_hh[k], None, None) for k in range(2)]
        return (dx, dh0, *per_dir[0], *per_dir[1])


def _linear(x, weight, bias):
    return x @ weight.t() if bias is None else torch.addmm(bias, x, weight.t())


def _direction_forward(x, h0, w_ih, w_hh, b_ih, b_hh, bulk):
    """One direction, step by step, fresh tensors each step. x (T, B, I) in step order."""
    gi_all = _linear(x.flatten(0, 1), w_ih, b_ih).view(x.shape[0], x.shape[1], -1) if bulk else None
    hs, saved = [h0], []
    for t in range(x.shape[0]):
        gi = gi_all[t] if bulk else _linear(x[t], w_ih, b_ih)  # (B, 3H)
        gh = _linear(hs[-1], w_hh, b_hh)  # (B, 3H)
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        hs.append((1 - z) * n + z * hs[-1])
        saved.append((r, z, n, h_n))
    return hs, saved


def _direction_backward(x, hs, saved, d_out, w_ih, w_hh, has_bias, bulk):
    """BPTT for one direction: d_out (T, B, H) in step order -> dx, dh0 and weight grads."""
    dh = torch.zeros_like(hs[0])
    d_w_ih, d_w_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
    d_b_ih = d_b_hh = w_ih.new_zeros(w_ih.shape[0]) if has_bias else None
    dx, d_gis, d_ghs = [None] * x.shape[0], [], []
    for t in range(x.shape[0] - 1, -1, -1):
        dh = dh + d_out[t]  # (B, H): from the output at t and from step t + 1
        r, z, n, h_n = saved[t]
        d_an = dh * (1 - z) * (1 - n * n)  # through n = tanh(a_n)
        d_r = d_an * h_n * r * (1 - r)  # through r's sigmoid
        d_z = dh * (hs[t] - n) * z * (1 - z)  # through z's sigmoid
        d_gi = torch.cat((d_r, d_z, d_an), 1)  # dL/d(W_ih x + b_ih), (B, 3H)
        d_gh = torch.cat((d_r, d_z, d_an * r), 1)  # dL/d(W_hh h + b_hh), (B, 3H)
        if bulk:
            d_gis.append(d_gi), d_ghs.append(d_gh)
        else:  # accumulate the weight gradients step by step
            d_w_ih = d_w_ih + d_gi.t() @ x[t]
            d_w_hh = d_w_hh + d_gh.t() @ hs[t]
            if has_bias:
                d_b_ih, d_b_hh = d_b_ih + d_gi.sum(0), d_b_hh + d_gh.sum(0)
        dx[t] = d_gi @ w_ih  # (B, I)
        dh = dh * z + d_gh @ w_hh  # to h_{t-1}: directly and through the three gates
    if bulk:  # one GEMM over all steps for each weight gradient
        d_gi, d_gh = torch.cat(d_gis[::-1]), torch.cat(d_ghs[::-1])  # (T * B, 3H)
        d_w_ih = d_gi.t() @ x.flatten(0, 1)
        d_w_hh = d_gh.t() @ torch.cat(hs[:-1])
        if has_bias:
            d_b_ih, d_b_hh = d_gi.sum(0), d_gh.sum(0)
    return torch.stack(dx), dh, (d_w_ih, d_w_hh, d_b_ih, d_b_hh)


def _loop_function(bulk):
    """An autograd.Function with BiGRULayerFunction's signature, one direction at a time,
    step by step; ``bulk``: input projection and weight gradients as one GEMM each."""

    class LoopFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, h0, *weights):
            runs = [
                _direction_forward(x, h0[0], *weights[:4], bulk),
                _direction_forward(x.flip(0), h0[1], *weights[4:], bulk),
            ]
            ctx.runs, ctx.has_bias = runs, weights[2] is not None
            ctx.save_for_backward(x, *weights)
            output = torch.cat((torch.stack(runs[0][0][1:]), torch.stack(runs[1][0][:0:-1])), 2)
            return output, torch.stack((runs[0][0][-1], runs[1][0][-1]))

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, d_output, d_h_n):
            x, *weights = ctx.saved_tensors
            H = weights[1].shape[1]
            d_out = (d_output[..., :H].clone(), d_output[..., H:].flip(0))  # step order
            d_out[0][-1] += d_h_n[0]
            d_out[1][-1] += d_h_n[1]
            grads_f = _direction_backward(
                x, *ctx.runs[0], d_out[0], *weights[:2], ctx.has_bias, bulk
            )
            grads_b = _direction_backward(
                x.flip(0), *ctx.runs[1], d_out[1], *weights[4:6], ctx.has_bias, bulk
            )
            dx = grads_f[0] + grads_b[0].flip(0)
            dh0 = torch.stack((grads_f[1], grads_b[1]))
            return dx, dh0, *grads_f[2], *grads_b[2]

    LoopFunction.__name__ = LoopFunction.__qualname__ = (
        "BulkLoopFunction" if bulk else "LoopFunction"
    )
    return LoopFunction


class FastBiGRU(nn.GRU):
    """Drop-in ``nn.GRU(..., bidirectional=True)`` with a fast hand-written backward.

    Same arguments and ``state_dict`` as ``nn.GRU``; ``bidirectional`` defaults to True and
    must stay True. ``forward(input, hx=None)``: input (T, B, I), (B, T, I) if batch_first,
    or unbatched (T, I); hx (2 * num_layers, B, H) or (2 * num_layers, H) ->
    (output (T, B, 2H) / (B, T, 2H) / (T, 2H), h_n like hx).
    Not supported (use ``nn.GRU``): PackedSequence, dropout between layers while training.
    """

    layer_function = BiGRULayerFunction  # the autograd.Function that runs one layer

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=True,
        device=None,
        dtype=None,
    ):
        if not bidirectional:
            raise ValueError(
                "FastBiGRU is bidirectional only, got bidirectional=False; "
                "use nn.GRU for a one-directional GRU"
            )
        super().__init__(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=True,
            device=device,
            dtype=dtype,
        )

    @classmethod
    def from_gru(cls, gru: nn.GRU) -> "FastBiGRU":
        """A FastBiGRU configured like bidirectional ``gru``, with a copy of its weights."""
        if not isinstance(gru, nn.GRU):
            raise TypeError(f"expected an nn.GRU, got {type(gru).__name__}")
        weight = gru.weight_ih_l0
        fast = cls(
            gru.input_size,
            gru.hidden_size,
            num_layers=gru.num_layers,
            bias=gru.bias,
            batch_first=gru.batch_first,
            dropout=gru.dropout,
            bidirectional=gru.bidirectional,
            device=weight.device,
            dtype=weight.dtype,
        )
        fast.load_state_dict(gru.state_dict())
        return fast

    def _check_input(self, x, hx):
        if isinstance(x, PackedSequence):
            raise TypeError(
                "FastBiGRU got a PackedSequence; use nn.GRU for packed sequences "
                "(or pad them and pass a tensor)"
            )
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a tensor, got {type(x).__name__}")
        if x.dim() not in (2, 3):
            raise ValueError(
                f"input must be 3-D (batched) or 2-D (unbatched), got shape {tuple(x.shape)}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"input's last dimension must be input_size={self.input_size}, "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[0 if (x.dim() == 2 or not self.batch_first) else 1] == 0:
            raise ValueError(f"input has no time steps, got shape {tuple(x.shape)}")
        param_dtype = self.weight_ih_l0.dtype
        if x.dtype != param_dtype:
            raise TypeError(
                f"input dtype {x.dtype} does not match the parameters' dtype {param_dtype}; "
                f"convert one of them with .to({param_dtype}) or .to({x.dtype})"
            )
        if self.dropout > 0 and self.training and self.num_layers > 1:
            raise ValueError(
                f"FastBiGRU does not apply dropout between layers (dropout={self.dropout} in "
                "training mode); use nn.GRU, or set dropout=0 / call .eval()"
            )
        if hx is not None:
            if not isinstance(hx, torch.Tensor):
                raise TypeError(
                    f"hx must be a tensor (a GRU has no cell state), got {type(hx).__name__}"
                )
            batch = () if x.dim() == 2 else (x.shape[0 if self.batch_first else 1],)
            expected = (2 * self.num_layers, *batch, self.hidden_size)
            if tuple(hx.shape) != expected:
                raise ValueError(f"hx must have shape {expected}, got {tuple(hx.shape)}")
            if hx.dtype != x.dtype:
                raise TypeError(f"hx dtype {hx.dtype} does not match the input dtype {x.dtype}")

    def forward(self, input, hx=None):  # noqa: A002 - nn.GRU's argument name
        self._check_input(input, hx)
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else input  # (T, B, I) or (B, T, I)
        if self.batch_first and not unbatched:
            x = x.transpose(0, 1)
        x = x.contiguous()  # (T, B, I)
        batch = x.shape[1]
        if hx is None:
            hx = x.new_zeros(2 * self.num_layers, batch, self.hidden_size)
        elif unbatched:
            hx = hx.unsqueeze(1)
        h_n = []
        for layer in range(self.num_layers):
            params = []
            for suffix in ("", "_reverse"):
                names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                params += [getattr(self, f"{nm}_l{layer}{suffix}", None) for nm in names]
            x, h_layer = self.layer_function.apply(x, hx[2 * layer : 2 * layer + 2], *params)
            h_n.append(h_layer)  # each (2, B, H)
        h_n = torch.cat(h_n)  # (2 * num_layers, B, H)
        if unbatched:
            return x.squeeze(1), h_n.squeeze(1)
        return (x.transpose(0, 1) if self.batch_first else x), h_n


class LoopBiGRU(FastBiGRU):
    """FastBiGRU's interface with the plainest hand-written BPTT: one direction at a time,
    everything step by step, fresh tensors each step (the baseline for the speedups)."""

    layer_function = _loop_function(bulk=False)


class BulkLoopBiGRU(FastBiGRU):
    """LoopBiGRU with the input projection of all steps as one GEMM before the loop and each
    weight gradient as one GEMM after it."""

    layer_function = _loop_function(bulk=True)
