"""``FastBiGRU`` with one idea taken away at a time, for the ablation of chapter 8 and
``make bench``.

Two ladders. ``compiled_variants()``: the final version, ``fast_ext.Compiled``, with one of
its three C++ ideas switched off (a flag of the C++ ops), and the whole compiled layer
taken away (the pure-PyTorch ``fast.Kernels``). ``VARIANTS``: ``fast.Kernels`` with one of
its ideas taken away, each class swapping one piece for a version without it. Every
variant computes the same function (the tests compare each with ``nn.GRU``), so a time
difference is the cost of the missing idea alone. ``make(gru, kernels)`` gives a
``FastBiGRU`` with ``gru``'s weights running ``kernels``.
"""

import torch

from birnn_utils import fast, fast_ext
from birnn_utils.validation import check_module, describe

COMPILED_IDEAS = {  # row label: the flag of fast_ext's C++ ops that the row switches off
    "- directions on their own threads": fast_ext.PARALLEL,
    "- fused gate math": fast_ext.FUSED,
    "- chunks in the cache": fast_ext.CHUNKED,
}


def compiled_variants():
    """{row label: kernels} for the compiled ladder: the final version, one C++ idea off
    per row, then the pure-PyTorch path. Empty where the compiled layer is not loaded."""
    if not fast_ext.is_loaded():
        return {}
    final = fast_ext.Compiled
    rows = {f"FastBiGRU ({final.name})": final}
    for label, flag in COMPILED_IDEAS.items():
        name = "Without" + label.title().replace(" ", "").replace("-", "")
        rows[label] = type(name, (final,), {"flags": final.flags & ~flag, "name": label})
    rows["- compiled layer (pure PyTorch)"] = fast.Kernels
    return rows


class StepByStepProjection(fast.Kernels):
    """Without the one-GEMM input projection: one small bmm per step."""

    name = "- one-GEMM projection"

    @staticmethod
    def project(x, w_ih, b_ih, b_hh):
        seq_len, batch, input_size = x.shape
        x_steps = torch.stack((x, x.flip(0)))  # (2, T, B, I)
        w_t = w_ih.transpose(1, 2).contiguous()  # (2, I, 3H)
        bias = 0 if b_ih is None else fast.input_biases(b_ih, b_hh)
        gi = x.new_empty(2, seq_len, batch, w_ih.shape[1])
        for t in range(seq_len):
            gi[:, t] = torch.bmm(x_steps[:, t], w_t) + bias
        x_steps = x_steps.view(2, seq_len * batch, input_size)
        return (x_steps, *fast.split_candidate(gi, b_hh))


class OneDirectionAtATime(fast.Kernels):
    """Without both directions per bmm: each step runs its ops once per direction."""

    name = "- both directions per bmm"

    @staticmethod
    def forward_loop(gi, gi_n, w_hh_t, hs, gates, n):
        seq_len, H = gi.shape[1], hs.shape[-1]
        keep = gates.shape[0] == seq_len
        for t in range(seq_len):
            for k in range(2):
                g, n_t = gates[t if keep else 0, k], n[t if keep else 0, k]  # (B, 3H), (B, H)
                h = hs[k, t]
                torch.addmm(gi[k, t], h, w_hh_t[k], out=g)
                g[:, : 2 * H].sigmoid_()
                torch.addcmul(gi_n[k, t], g[:, :H], g[:, 2 * H :], out=n_t).tanh_()
                torch.lerp(n_t, h, g[:, H : 2 * H], out=hs[k, t + 1])

    @staticmethod
    def backward_loop(dh, coef, z, w_hh):
        batch, H = dh.shape[2], dh.shape[3]
        for t in range(coef.shape[1] - 1, -1, -1):
            for k in range(2):
                d, g = dh[t + 1, k], coef[k, t]  # (B, H), (B, 3, H)
                g.mul_(d.unsqueeze(1))
                dh[t, k].addcmul_(d, z[t, k]).addmm_(g.view(batch, 3 * H), w_hh[k])


class PerStepGateFactors(fast.Kernels):
    """Without the bulk gate factors: every backward step computes its own from the gates."""

    name = "- bulk gate factors"
    _forward = None  # (hs, gates, n, d_an) of the layer being differentiated

    @staticmethod
    def backward_factors(hs, gates, n):
        _, seq_len_p1, batch, H = hs.shape
        coef = hs.new_empty(2, seq_len_p1 - 1, batch, 3, H)
        d_an = hs.new_empty(2, seq_len_p1 - 1, batch, H)  # filled step by step below
        PerStepGateFactors._forward = (hs, gates, n, d_an)
        return coef, d_an

    @staticmethod
    def backward_loop(dh, coef, z, w_hh):
        hs, gates, n, d_an = PerStepGateFactors._forward
        batch, H = dh.shape[2], dh.shape[3]
        for t in range(coef.shape[1] - 1, -1, -1):
            d, g = dh[t + 1], coef[:, t]  # (2, B, H), (2, B, 3, H)
            r, z_t, q = gates[t].split(H, dim=2)
            d_an[:, t] = (1 - z_t) * (1 - n[t] * n[t])
            d_an_t = d * d_an[:, t]
            g[:, :, 0] = d_an_t * q * r * (1 - r)
            g[:, :, 1] = d * (hs[:, t] - n[t]) * z_t * (1 - z_t)
            g[:, :, 2] = d_an_t * r
            dh[t].addcmul_(d, z_t).baddbmm_(g.view(2, batch, 3 * H), w_hh)
        PerStepGateFactors._forward = None


class FreshTensors(fast.Kernels):
    """Without in-place buffers: every op of a step returns a fresh tensor; the states and
    gates are stacked into the buffers after the loop."""

    name = "- in-place buffers"

    @staticmethod
    def forward_loop(gi, gi_n, w_hh_t, hs, gates, n):
        seq_len, H = gi.shape[1], hs.shape[-1]
        states, kept, cands = [hs[:, 0]], [], []
        for t in range(seq_len):
            h = states[-1]
            g = torch.baddbmm(gi[:, t], h, w_hh_t)  # (2, B, 3H)
            rz = torch.sigmoid(g[..., : 2 * H])
            r, z, q = rz[..., :H], rz[..., H:], g[..., 2 * H :]
            n_t = torch.tanh(gi_n[:, t] + r * q)
            states.append(n_t + z * (h - n_t))
            kept.append(torch.cat((rz, q), dim=2))
            cands.append(n_t)
        hs[:, 1:] = torch.stack(states[1:], dim=1)
        if gates.shape[0] == seq_len:
            gates.copy_(torch.stack(kept))
            n.copy_(torch.stack(cands))

    @staticmethod
    def backward_loop(dh, coef, z, w_hh):
        batch, H = dh.shape[2], dh.shape[3]
        d = dh[-1]
        for t in range(coef.shape[1] - 1, -1, -1):
            g = coef[:, t] * d.unsqueeze(2)  # (2, B, 3, H)
            coef[:, t] = g
            d = dh[t] + d * z[t] + torch.bmm(g.view(2, batch, 3 * H), w_hh)
            dh[t] = d


class StridedSlices(fast.Kernels):
    """Without contiguous slices: the gate and candidate buffers direction-major, so each
    step's slice strides across the two directions and bmm cannot write it in place."""

    name = "- contiguous slices"

    @staticmethod
    def buffers(like, seq_len, batch, H, keep):
        steps = seq_len if keep else 1
        return (
            fast.new_buffer(like, 2, seq_len + 1, batch, H),
            fast.new_buffer(like, 2, steps, batch, 3 * H).transpose(0, 1),
            fast.new_buffer(like, 2, steps, batch, H).transpose(0, 1),
        )


VARIANTS = {
    "- one-GEMM projection": StepByStepProjection,
    "- both directions per bmm": OneDirectionAtATime,
    "- bulk gate factors": PerStepGateFactors,
    "- in-place buffers": FreshTensors,
    "- contiguous slices": StridedSlices,
}


def make(gru, kernels):
    """A ``FastBiGRU`` with ``gru``'s weights that runs ``kernels``: a subclass of
    ``fast.Kernels`` (the class itself, ``fast_ext.Compiled``, a ``VARIANTS`` entry)."""
    check_module("gru", gru, torch.nn.GRU)
    if not (isinstance(kernels, type) and issubclass(kernels, fast.Kernels)):
        raise TypeError(f"kernels must be fast.Kernels or a subclass of it (e.g. "
                        f"fast_ext.Compiled, ablation.VARIANTS[...]), got {describe(kernels)}")
    if not gru.bidirectional:
        raise ValueError("gru must be bidirectional (FastBiGRU is), got bidirectional=False")
    model = fast.FastBiGRU.from_gru(gru)
    model.kernels = kernels
    return model
