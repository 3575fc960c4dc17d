// The two time loops of birnn_utils.fast.BiGRULayerFunction, compiled: the same ATen ops
// in the same order as the pure-PyTorch loops (fast.forward_loop, fast.backward_loop), so
// the results are bitwise equal; only the Python interpreter's cost per op is gone.
// Built on demand by birnn_utils.fast_ext with torch.utils.cpp_extension (optional).
#include <ATen/ATen.h>
#include <torch/library.h>

// gi (2, T, B, 3H), gi_n (2, T, B, H), w_hh_t (2, H, 3H); hs (2, T + 1, B, H) with hs[:, 0]
// set; gates (T, 2, B, 3H) and n (T, 2, B, H), or one step of each (reused) in inference.
void forward_loop(const at::Tensor& gi, const at::Tensor& gi_n, const at::Tensor& w_hh_t,
                  const at::Tensor& hs, const at::Tensor& gates, const at::Tensor& n) {
  const int64_t steps = gi.size(1), H = hs.size(-1);
  const bool keep = gates.size(0) == steps;
  for (int64_t t = 0; t < steps; ++t) {
    at::Tensor g = gates.select(0, keep ? t : 0), n_t = n.select(0, keep ? t : 0);
    at::Tensor h = hs.select(1, t), h_next = hs.select(1, t + 1);
    at::baddbmm_out(g, gi.select(1, t), h, w_hh_t);  // [a_r | a_z | q], both directions
    g.narrow(2, 0, 2 * H).sigmoid_();                 // r | z
    at::addcmul_out(n_t, gi_n.select(1, t), g.narrow(2, 0, H), g.narrow(2, 2 * H, H));
    n_t.tanh_();                                      // n = tanh(W_in x + b_in + r * q)
    at::lerp_out(h_next, n_t, h, g.narrow(2, H, H));  // h' = n + z (h - n)
  }
}

// dh (T + 1, 2, B, H): the gradient reaching each state; coef (2, T, B, 3, H): the bulk gate
// factors, turned into dL/d(W_hh h + b_hh) step by step; z (T, 2, B, H); w_hh (2, 3H, H).
void backward_loop(const at::Tensor& dh, const at::Tensor& coef, const at::Tensor& z,
                   const at::Tensor& w_hh) {
  const int64_t steps = coef.size(1), batch = coef.size(2), H = dh.size(-1);
  for (int64_t t = steps - 1; t >= 0; --t) {
    at::Tensor d = dh.select(0, t + 1), d_prev = dh.select(0, t);
    at::Tensor g = coef.select(1, t);  // (2, B, 3, H)
    g.mul_(d.unsqueeze(2));
    d_prev.addcmul_(d, z.select(0, t)).baddbmm_(g.view({2, batch, 3 * H}), w_hh);
  }
}

TORCH_LIBRARY(birnn_fast, m) {
  m.def("forward_loop(Tensor gi, Tensor gi_n, Tensor w_hh_t, Tensor(a!) hs, Tensor(b!) gates,"
        " Tensor(c!) n) -> ()");
  m.def("backward_loop(Tensor(a!) dh, Tensor(b!) coef, Tensor z, Tensor w_hh) -> ()");
  m.impl("forward_loop", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(forward_loop));
  m.impl("backward_loop", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(backward_loop));
}
