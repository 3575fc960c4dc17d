"""A fast bidirectional GRU: PyTorch's equations and layout, a hand-written backward pass.

``FastBiGRU`` is a drop-in ``nn.GRU(bidirectional=True)``: same constructor, same
``state_dict``, same ``(output, h_n)``. Each layer is one ``torch.autograd.Function``
(``BiGRULayerFunction``) whose forward runs the recurrence without autograd and whose
backward is backpropagation through time derived by hand (chapter 8). PyTorch's GRU, gate
order ``r, z, n``, with ``q = W_hn h + b_hn`` (applied *after* the product with ``W_hn``,
unlike Cho et al.'s original) and ``d = dL/dh'``::

    h' = (1 - z) * n + z * h,   n = tanh(W_in x + b_in + r * q)
    dL/da_n = d * (1 - z)(1 - n^2)
    dL/da_z = d * (h - n) z(1 - z)
    dL/da_r = dL/da_n * q r(1 - r)
    dL/dh   = d * z + [dL/da_r, dL/da_z, dL/da_n * r] @ W_hh

The layer is cut into small pieces, each a plain function of tensors: ``project`` (the
input projection of all steps), ``forward_loop`` (the recurrence), ``backward_factors``
(everything of the backward that does not depend on ``d``, for all steps at once),
``backward_loop`` (three ops per step) and ``weight_grads`` (a few large GEMMs).
``Kernels`` bundles them, with ``layer_forward`` and ``layer_backward`` (one layer, built
from the pieces); ``birnn_utils.fast_ext`` swaps in a compiled layer (C++, optional), and
``birnn_utils.ablation`` swaps out one idea at a time.

Code is batch-major in rows: a state is a ``(B, H)`` row block, so ``W h`` in the maths
(column vectors) is ``h @ W.T`` here. Both directions are stacked on a leading axis of 2;
"step order" means step ``t`` of the backward direction reads ``x[T - 1 - t]``.

``LoopBiGRU`` and ``BulkLoopBiGRU`` have the same interface with the plainest hand-written
BPTT (the baselines of chapter 8 and ``make bench``).

Contract: ``FastBiGRU`` is differentiable once. A backward with ``create_graph=True``
(double backward, gradient penalties, Hessian-vector products) raises
``NotImplementedError`` (a ``RuntimeError``) that says so; use ``nn.GRU`` for those.
"""

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from birnn_utils.validation import (
    check_bool,
    check_elements,
    check_float,
    check_int,
    check_like,
    check_module,
    describe,
)

# What a fresh buffer is filled with before the loops write it: 0 touches its pages in bulk
# (page faults outside the time loop); the tests set NaN to prove every entry is written
# before it is read; None leaves it uninitialised.
BUFFER_FILL = 0.0


def new_buffer(like, *shape):
    """A work buffer with ``like``'s dtype and device, filled with ``BUFFER_FILL``."""
    if BUFFER_FILL is None:
        return like.new_empty(shape)
    return like.new_full(shape, BUFFER_FILL)


def project(x, w_ih, b_ih, b_hh):
    """Input projection of every step and both directions: one batched GEMM.

    x (T, B, I) in time order; w_ih (2, 3H, I); b_ih, b_hh (2, 3H) or None.
    Returns x_steps (2, T * B, I) in step order; gi (2, T, B, 3H), what each step adds to
    h W_hh^T: [W_ir x + b_ir + b_hr | W_iz x + b_iz + b_hz | b_hn]; gi_n (2, T, B, H):
    W_in x + b_in. No weight is ever multiplied by a constant 0 (inf * 0 would be NaN).
    """
    seq_len, batch, input_size = x.shape
    x_steps = torch.stack((x, x.flip(0))).view(2, seq_len * batch, input_size)
    w_t = w_ih.transpose(1, 2).contiguous()  # (2, I, 3H)
    if b_ih is None:
        gi = torch.bmm(x_steps, w_t)
    else:
        gi = torch.baddbmm(input_biases(b_ih, b_hh), x_steps, w_t)
    return (x_steps, *split_candidate(gi.view(2, seq_len, batch, -1), b_hh))


def input_biases(b_ih, b_hh):
    """(2, 1, 3H): [b_ir + b_hr | b_iz + b_hz | b_in], the biases that go with x W_ih^T."""
    H2 = b_ih.shape[1] * 2 // 3
    return torch.cat((b_ih[:, :H2] + b_hh[:, :H2], b_ih[:, H2:]), dim=1)[:, None]


def split_candidate(gi, b_hh):
    """gi (2, T, B, 3H) -> (gi with its n block replaced by b_hn (or 0), gi_n (2, T, B, H),
    a copy of that n block): q = W_hn h + b_hn must stay apart from W_in x + b_in."""
    H2 = gi.shape[-1] * 2 // 3
    gi_n = gi[..., H2:].clone()
    gi[..., H2:] = 0 if b_hh is None else b_hh[:, None, None, H2:]
    return gi, gi_n


def forward_loop(gi, gi_n, w_hh_t, hs, gates, n):
    """The recurrence: both directions per step, five ops, each writing into its own slice.

    gi (2, T, B, 3H), gi_n (2, T, B, H) from ``project``; w_hh_t (2, H, 3H); hs
    (2, T + 1, B, H) with hs[:, 0] = h0, filled with every state; gates (T, 2, B, 3H) gets
    [r | z | q] and n (T, 2, B, H) the candidates, or one step of each (1, 2, B, .) that is
    reused when nothing needs to be kept (inference).
    """
    seq_len, H = gi.shape[1], hs.shape[-1]
    keep = gates.shape[0] == seq_len
    for t in range(seq_len):
        g, n_t = (gates[t], n[t]) if keep else (gates[0], n[0])  # (2, B, 3H), (2, B, H)
        h = hs[:, t]  # (2, B, H)
        torch.baddbmm(gi[:, t], h, w_hh_t, out=g)  # [a_r | a_z | q], both directions
        g[..., : 2 * H].sigmoid_()  # r | z
        torch.addcmul(gi_n[:, t], g[..., :H], g[..., 2 * H :], out=n_t).tanh_()
        torch.lerp(n_t, h, g[..., H : 2 * H], out=hs[:, t + 1])  # h' = n + z (h - n)


def backward_factors(hs, gates, n):
    """The factors of d = dL/dh' that do not depend on d, for all steps at once.

    Returns coef (2, T, B, 3, H), for gates r, z and the hidden part of a_n:
    [(1-z)(1-n^2) q r(1-r) | (h-n) z(1-z) | (1-z)(1-n^2) r], and d_an (2, T, B, H):
    (1-z)(1-n^2). dL/d(W_hh h + b_hh) of a step is coef * d, dL/d a_n is d_an * d.
    Each product is written straight into its slice of coef (u - u * v is u (1 - v)).
    """
    H = hs.shape[-1]
    r, z, q = (gates[..., k * H : (k + 1) * H].transpose(0, 1) for k in range(3))
    n_dir = n.transpose(0, 1)  # (2, T, B, H) views
    coef = hs.new_empty(2, n.shape[0], hs.shape[2], 3, H)
    c_r, c_z, c_n = coef.unbind(3)  # (2, T, B, H) views
    d_an = torch.mul(n_dir, n_dir, out=hs.new_empty(n_dir.shape)).neg_().add_(1)  # 1 - n^2
    d_an.addcmul_(d_an, z, value=-1)  # (1 - z)(1 - n^2)
    torch.mul(d_an, r, out=c_n)  # (1 - z)(1 - n^2) r
    torch.mul(c_n, q, out=c_r).addcmul_(c_r, r, value=-1)  # ... q r (1 - r)
    torch.sub(hs[:, :-1], n_dir, out=c_z).mul_(z).addcmul_(c_z, z, value=-1)  # (h-n) z (1-z)
    return coef, d_an


def backward_loop(dh, coef, z, w_hh):
    """BPTT's time loop, three ops per step. dh (T + 1, 2, B, H) holds the gradient from the
    outputs and gets the gradient reaching every state (dh[0] for h0); coef (2, T, B, 3, H)
    becomes dL/d(W_hh h + b_hh) of every step, in place; z (T, 2, B, H); w_hh (2, 3H, H)."""
    batch, H = dh.shape[2], dh.shape[3]
    for t in range(coef.shape[1] - 1, -1, -1):
        d, d_prev, g = dh[t + 1], dh[t], coef[:, t]  # (2, B, H), (2, B, H), (2, B, 3, H)
        g.mul_(d.unsqueeze(2))
        d_prev.addcmul_(d, z[t]).baddbmm_(g.view(2, batch, 3 * H), w_hh)


def weight_grads(x_steps, hs, d_gh, d_gi_n, has_bias):
    """All weight gradients as a few batched GEMMs over every step: x_steps (2, TB, I),
    hs (2, T + 1, B, H), d_gh (2, TB, 3H) = dL/d(W_hh h + b_hh), d_gi_n (2, TB, H) =
    dL/d a_n. The input side differs from d_gh only in its n block (no factor r)."""
    H = hs.shape[-1]
    d_w_ih = torch.cat(
        (
            torch.bmm(d_gh[..., : 2 * H].transpose(1, 2), x_steps),
            torch.bmm(d_gi_n.transpose(1, 2), x_steps),
        ),
        dim=1,
    )  # (2, 3H, I)
    h_prev = hs[:, :-1].reshape(2, -1, H)
    d_w_hh = torch.bmm(d_gh.transpose(1, 2), h_prev)  # (2, 3H, H)
    if not has_bias:
        return [(d_w_ih[k], d_w_hh[k], None, None) for k in range(2)]
    d_b_hh = d_gh.sum(1)  # (2, 3H)
    d_b_ih = torch.cat((d_b_hh[:, : 2 * H], d_gi_n.sum(1)), dim=1)
    return [(d_w_ih[k], d_w_hh[k], d_b_ih[k], d_b_hh[k]) for k in range(2)]


class Kernels:
    """The pieces of one layer, as swappable static methods (pure PyTorch here)."""

    name = "pure PyTorch"
    project = staticmethod(project)
    forward_loop = staticmethod(forward_loop)
    backward_factors = staticmethod(backward_factors)
    backward_loop = staticmethod(backward_loop)
    weight_grads = staticmethod(weight_grads)

    @classmethod
    def layer_forward(cls, x, h0, weights, keep):
        """One layer's forward: (output (T, B, 2H), h_n (2, B, H), what backward needs)."""
        return layer_forward(cls, x, h0, weights, keep)

    @classmethod
    def layer_backward(cls, saved, d_output, d_h_n, need_dx, has_bias):
        """One layer's backward from what ``layer_forward`` saved: (dx, dh0, *weight grads)."""
        return layer_backward(cls, saved, d_output, d_h_n, need_dx, has_bias)

    @staticmethod
    def buffers(like, seq_len, batch, H, keep):
        """hs (2, T + 1, B, H), gates (T, 2, B, 3H), n (T, 2, B, H): step-major, so that
        each step's slice is one contiguous block (one step of each when not ``keep``)."""
        steps = seq_len if keep else 1
        return (
            new_buffer(like, 2, seq_len + 1, batch, H),
            new_buffer(like, steps, 2, batch, 3 * H),
            new_buffer(like, steps, 2, batch, H),
        )


def layer_forward(kernels, x, h0, weights, keep):
    """One bidirectional layer, forward: (output (T, B, 2H), h_n (2, B, H), saved)."""
    w_ih = torch.stack(weights[0::4])  # (2, 3H, I)
    w_hh_t = torch.stack(weights[1::4]).transpose(1, 2).contiguous()  # (2, H, 3H)
    has_bias = weights[2] is not None
    b_ih, b_hh = (torch.stack(weights[k::4]) if has_bias else None for k in (2, 3))
    seq_len, batch, _ = x.shape
    H = w_hh_t.shape[1]
    x_steps, gi, gi_n = kernels.project(x, w_ih, b_ih, b_hh)
    hs, gates, n = kernels.buffers(x, seq_len, batch, H, keep)
    hs[:, 0] = h0
    kernels.forward_loop(gi, gi_n, w_hh_t, hs, gates, n)
    output = torch.cat((hs[0, 1:], hs[1, 1:].flip(0)), dim=2)  # (T, B, 2H), time order
    saved = (x_steps, w_ih, w_hh_t, hs, gates, n) if keep else None
    return output, hs[:, seq_len].clone(), saved


def layer_backward(kernels, saved, d_output, d_h_n, need_dx, has_bias):
    """The backward of ``layer_forward``: (dx or None, dh0, 8 or 4 weight gradients in
    nn.GRU's order, None for absent biases)."""
    x_steps, w_ih, w_hh_t, hs, gates, n = saved
    _, seq_len_p1, batch, H = hs.shape
    dh = new_buffer(hs, seq_len_p1, 2, batch, H)  # step-major, step order
    dh[0] = 0
    dh[1:, 0] = d_output[..., :H]
    dh[1:, 1] = d_output[..., H:].flip(0)
    dh[-1] += d_h_n
    coef, d_an = kernels.backward_factors(hs, gates, n)
    w_hh = w_hh_t.transpose(1, 2).contiguous()  # (2, 3H, H)
    kernels.backward_loop(dh, coef, gates[..., H : 2 * H], w_hh)
    d_gh = coef.view(2, -1, 3 * H)  # dL/d(W_hh h + b_hh), every step
    d_gi_n = d_an.mul_(dh[1:].transpose(0, 1)).view(2, -1, H)  # dL/d a_n
    dx = None
    if need_dx:
        w_rz, w_n = w_ih[:, : 2 * H], w_ih[:, 2 * H :]
        dx_steps = torch.bmm(d_gh[..., : 2 * H], w_rz).baddbmm_(d_gi_n, w_n)
        dx_steps = dx_steps.view(2, seq_len_p1 - 1, batch, -1)
        dx = dx_steps[0] + dx_steps[1].flip(0)  # back to time order
    per_dir = kernels.weight_grads(x_steps, hs, d_gh, d_gi_n, has_bias)
    return (dx, dh[0], *per_dir[0], *per_dir[1])


class BiGRULayerFunction(torch.autograd.Function):
    """One bidirectional GRU layer, time-major, with a hand-written backward.

    ``apply(kernels, x, h0, w_ih_f, w_hh_f, b_ih_f, b_hh_f, w_ih_b, w_hh_b, b_ih_b, b_hh_b)``
    with ``kernels`` a ``Kernels`` class, x (T, B, I), h0 (2, B, H) (forward direction
    first), weights in nn.GRU's layout (w_ih (3H, I), w_hh (3H, H), b_* (3H,) or all four
    biases None) -> output (T, B, 2H), h_n (2, B, H). Differentiable once (see the module).
    """

    @staticmethod
    def forward(ctx, kernels, x, h0, *weights):
        output, h_n, saved = kernels.layer_forward(x, h0, weights, keep=True)
        ctx.kernels, ctx.has_bias = kernels, weights[2] is not None
        ctx.save_for_backward(*saved)
        return output, h_n

    @staticmethod
    def backward(ctx, d_output, d_h_n):
        if torch.is_grad_enabled():
            raise NotImplementedError(
                "FastBiGRU is differentiable once: its hand-written backward cannot be "
                "differentiated (create_graph=True, double backward); use nn.GRU for that"
            )
        needs = ctx.needs_input_grad
        dx, dh0, *per_dir = ctx.kernels.layer_backward(
            ctx.saved_tensors, d_output, d_h_n, needs[1], ctx.has_bias
        )
        return (None, dx, dh0 if needs[2] else None, *per_dir)


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
        h_r, h_z, q = gh.chunk(3, 1)  # q = W_hn h + b_hn
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * q)
        hs.append((1 - z) * n + z * hs[-1])
        saved.append((r, z, n, q))
    return hs, saved


def _direction_backward(x, hs, saved, d_out, w_ih, w_hh, has_bias, bulk):
    """BPTT for one direction: d_out (T, B, H) in step order -> dx, dh0 and weight grads."""
    dh = torch.zeros_like(hs[0])
    d_w_ih, d_w_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
    d_b_ih = d_b_hh = w_ih.new_zeros(w_ih.shape[0]) if has_bias else None
    dx, d_gis, d_ghs = [None] * x.shape[0], [], []
    for t in range(x.shape[0] - 1, -1, -1):
        dh = dh + d_out[t]  # (B, H): from the output at t and from step t + 1
        r, z, n, q = saved[t]
        d_an = dh * (1 - z) * (1 - n * n)  # through n = tanh(a_n)
        d_r = d_an * q * r * (1 - r)  # through r's sigmoid
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
        def forward(ctx, kernels, x, h0, *weights):
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
            return None, dx, dh0, *grads_f[2], *grads_b[2]

    LoopFunction.__name__ = LoopFunction.__qualname__ = (
        "BulkLoopFunction" if bulk else "LoopFunction"
    )
    return LoopFunction


def default_kernels():
    """The compiled layer when ``birnn_utils.fast_ext`` has it loaded, else pure PyTorch."""
    from birnn_utils import fast_ext  # imported here: fast_ext imports this module

    return fast_ext.Compiled if fast_ext.is_loaded() else Kernels


def _check_device_name(device: object) -> None:
    """``None``, a device, its name (``"cpu"``, ``"cuda:0"``) or an index."""
    if device is None or isinstance(device, torch.device):
        return
    if not isinstance(device, str | int) or isinstance(device, bool):
        raise TypeError(f"device must be a torch.device, a str such as 'cpu' or None, got "
                        f"{describe(device)}")
    try:
        torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must name a device such as 'cpu' or 'cuda:0', got "
                         f"{device!r}: {str(error).splitlines()[0][:120]}") from None


class FastBiGRU(nn.GRU):
    """Drop-in ``nn.GRU(..., bidirectional=True)`` with a fast hand-written backward.

    Same arguments and ``state_dict`` as ``nn.GRU``; ``bidirectional`` defaults to True and
    must stay True. ``forward(input, hx=None)``: input (T, B, I), (B, T, I) if batch_first,
    or unbatched (T, I); hx (2 * num_layers, B, H) or (2 * num_layers, H) ->
    (output (T, B, 2H) / (B, T, 2H) / (T, 2H), h_n like hx).
    ``kernels``: None (the default) takes the compiled layer of ``birnn_utils.fast_ext``
    when it is built and loaded, else the pure-PyTorch ``Kernels``; or set a class.
    Not supported (use ``nn.GRU``): PackedSequence, dropout between layers while training,
    double backward.
    """

    layer_function = BiGRULayerFunction  # the autograd.Function that runs one layer
    kernels = None

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
        check_int("input_size", input_size, minimum=1)
        check_int("hidden_size", hidden_size, minimum=1)
        check_int("num_layers", num_layers, minimum=1)
        check_bool("bias", bias)
        check_bool("batch_first", batch_first)
        check_float("dropout", dropout, minimum=0.0, maximum=1.0)
        check_bool("bidirectional", bidirectional)
        if not bidirectional:
            raise ValueError(
                "FastBiGRU is bidirectional only, got bidirectional=False; "
                "use nn.GRU for a one-directional GRU"
            )
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating-point torch.dtype, got {describe(dtype)}")
        _check_device_name(device)
        per_input = 3 * hidden_size  # w_ih, w_hh and the biases: 3H rows each
        count = 2 * per_input * (input_size + hidden_size + 2  # two directions, layer 0
                                 + (num_layers - 1) * (3 * hidden_size + 2))  # 2H inputs
        check_elements("FastBiGRU's parameters", count,
                       f"input_size={input_size}, hidden_size={hidden_size}, "
                       f"num_layers={num_layers}")
        super().__init__(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=float(dropout),
            bidirectional=True,
            device=device,
            dtype=dtype,
        )

    @classmethod
    def from_gru(cls, gru: nn.GRU) -> "FastBiGRU":
        """A FastBiGRU configured like bidirectional ``gru``, with a copy of its weights."""
        check_module("gru", gru, nn.GRU)
        if not gru.bidirectional:
            raise ValueError("gru must be bidirectional, got bidirectional=False; FastBiGRU "
                             "has two directions")
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
            raise TypeError(f"input must be a tensor, got {describe(x)}")
        shape = tuple(x.shape)
        if x.dim() not in (2, 3):
            raise ValueError(f"input must be 3-D (batched) or 2-D (unbatched), got shape {shape}")
        if shape[-1] != self.input_size:
            raise ValueError(
                f"input's last dimension must be input_size={self.input_size}, got shape {shape}"
            )
        time_dim = 0 if (x.dim() == 2 or not self.batch_first) else 1
        if shape[time_dim] == 0:
            raise ValueError(f"input has no time steps, got shape {shape}")
        if x.dim() == 3 and shape[1 - time_dim] == 0:
            raise ValueError(f"input has an empty batch, got shape {shape}")
        check_like("input", x, "the model's parameters", self.weight_ih_l0)
        steps, batch = shape[time_dim], 1 if x.dim() == 2 else shape[1 - time_dim]
        check_elements("the gate buffer", steps * 2 * batch * 3 * self.hidden_size,
                       f"input of shape {shape}, hidden_size={self.hidden_size}")
        if self.dropout > 0 and self.training and self.num_layers > 1:
            raise ValueError(
                f"FastBiGRU does not apply dropout between layers (dropout={self.dropout} in "
                "training mode); use nn.GRU, or set dropout=0 / call .eval()"
            )
        if hx is not None:
            self._check_hx(x, hx)

    def _check_hx(self, x, hx):
        if not isinstance(hx, torch.Tensor):
            raise TypeError(f"hx must be a tensor (a GRU has no cell state), got {describe(hx)}")
        batch = () if x.dim() == 2 else (x.shape[0 if self.batch_first else 1],)
        expected = (2 * self.num_layers, *batch, self.hidden_size)
        if tuple(hx.shape) != expected:
            raise ValueError(f"hx must have shape {expected}, got {tuple(hx.shape)}")
        check_like("hx", hx, "the model's parameters", self.weight_ih_l0)

    def forward(self, input, hx=None):
        self._check_input(input, hx)
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else input  # (T, B, I) or (B, T, I)
        if self.batch_first and not unbatched:
            x = x.transpose(0, 1)
        x = x.contiguous()  # (T, B, I)
        if hx is None:
            hx = x.new_zeros(2 * self.num_layers, x.shape[1], self.hidden_size)
        elif unbatched:
            hx = hx.unsqueeze(1)
        kernels = self.kernels or default_kernels()
        grad = torch.is_grad_enabled() and (
            x.requires_grad or hx.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        h_n = []
        for layer in range(self.num_layers):
            params = [
                getattr(self, f"{name}_l{layer}{suffix}", None)
                for suffix in ("", "_reverse")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            h0 = hx[2 * layer : 2 * layer + 2]
            if grad or self.layer_function is not BiGRULayerFunction:
                x, h_layer = self.layer_function.apply(kernels, x, h0, *params)
            else:  # inference: no autograd node, nothing kept for a backward
                x, h_layer, _ = kernels.layer_forward(x, h0, params, keep=False)
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
