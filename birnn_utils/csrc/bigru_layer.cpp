// One bidirectional GRU layer, forward and backward, as two C++ ops (birnn_utils.fast_ext):
// PyTorch's equations and layout, gate order r, z, n, q = W_hn h + b_hn, d = dL/dh'.
//
//   h' = n + z (h - n),  n = tanh(W_in x + b_in + r q)
//   dL/da_n = d (1 - z)(1 - n^2),  dL/da_z = d (h - n) z (1 - z),  dL/da_r = dL/da_n q r (1 - r)
//   dL/dh   = d z + [dL/da_r, dL/da_z, dL/da_n r] @ W_hh
//
// What makes it fast, each one a flag so that the ablation can switch it off:
// - PARALLEL: the two directions are independent, so each runs on its own thread for the
//   whole op (one fork and join per forward and one per backward, not one per operation);
//   inside a thread, with OpenMP's nesting off (its default), every matrix product is a
//   one-thread GEMM. It uses two threads, whatever torch.get_num_threads() says.
// - FUSED: the gate math of a step is one pass over (B, H) with ATen's SIMD vector type
//   at::vec::Vectorized (its exp, tanh and reciprocal), instead of six ATen calls.
// - CHUNKED: the input projection W_ih x + biases is computed a few steps at a time into a
//   buffer that stays in the cache, instead of all T steps into a (T, B, 3H) array first;
//   in the backward, likewise, the per-step gradients of a few steps at a time go into the
//   weight gradients (a few GEMMs per chunk) while they are still in the cache.
// Every buffer is in time order; step t of the backward direction is time T - 1 - t.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

namespace {

using at::Tensor;
using at::vec::Vectorized;

constexpr int64_t PARALLEL = 1, FUSED = 2, CHUNKED = 4;

// Steps per chunk: as many as fit chunk_elements values of a (B, 3H) step, at least one.
int64_t chunk_steps(int64_t flags, int64_t chunk_elements, int64_t T, int64_t B, int64_t H) {
  return (flags & CHUNKED) ? std::clamp<int64_t>(chunk_elements / (B * 3 * H), 1, T) : T;
}

template <typename T>
inline Vectorized<T> sigmoid(const Vectorized<T>& a) {
  const Vectorized<T> one(T(1));
  return (one + (Vectorized<T>(T(0)) - a).exp()).reciprocal();
}

// Forward gate math of one step and one direction, row by row. On entry g (B, 3H) holds
// h W_hh^T; gi (B, 3H) [a_r, a_z input parts with their biases | W_in x + b_in]; b_hn (H) or
// null. Writes g = [r | z | q], n (B, H), h' into out (row stride out_ld) and into out2
// (row stride H) when out2 is not null.
template <typename T>
void gates_forward(T* g, const T* gi, const T* b_hn, const T* h, int64_t h_ld, T* n, T* out,
                   int64_t out_ld, T* out2, int64_t B, int64_t H) {
  using V = Vectorized<T>;
  for (int64_t b = 0; b < B; ++b) {
    T* gr = g + b * 3 * H;
    const T* ir = gi + b * 3 * H;
    const T* hb = h + b * h_ld;
    T* nb = n + b * H;
    T* ob = out + b * out_ld;
    for (int64_t j = 0; j < H; j += V::size()) {
      const int64_t c = std::min<int64_t>(V::size(), H - j);
      const V r = sigmoid(V::loadu(gr + j, c) + V::loadu(ir + j, c));
      const V z = sigmoid(V::loadu(gr + H + j, c) + V::loadu(ir + H + j, c));
      V q = V::loadu(gr + 2 * H + j, c);
      if (b_hn != nullptr) q = q + V::loadu(b_hn + j, c);
      const V cand = (V::loadu(ir + 2 * H + j, c) + r * q).tanh();
      const V h_new = cand + z * (V::loadu(hb + j, c) - cand);
      r.store(gr + j, c);
      z.store(gr + H + j, c);
      q.store(gr + 2 * H + j, c);
      cand.store(nb + j, c);
      h_new.store(ob + j, c);
      if (out2 != nullptr) h_new.store(out2 + b * H + j, c);
    }
  }
}

// Backward gate math of one step and one direction. d (B, H): dL/dh' from the later steps;
// d_out (row stride d_out_ld): from this step's output; g (B, 3H) [r | z | q] and n (B, H)
// as the forward kept them; h the previous state. Writes e (B, 3H) = dL/d(W_hh h + b_hh),
// d_an (B, H) = dL/da_n and d_next (B, H) = d z (the direct path to the previous state).
template <typename T>
void gates_backward(const T* d, const T* d_out, int64_t d_out_ld, const T* g, const T* n,
                    const T* h, int64_t h_ld, T* e, T* d_an, T* d_next, int64_t B, int64_t H) {
  using V = Vectorized<T>;
  const V one(T(1));
  for (int64_t b = 0; b < B; ++b) {
    const T* gr = g + b * 3 * H;
    T* eb = e + b * 3 * H;
    for (int64_t j = 0; j < H; j += V::size()) {
      const int64_t c = std::min<int64_t>(V::size(), H - j);
      const int64_t i = b * H + j;
      const V dv = V::loadu(d + i, c) + V::loadu(d_out + b * d_out_ld + j, c);
      const V r = V::loadu(gr + j, c), z = V::loadu(gr + H + j, c);
      const V q = V::loadu(gr + 2 * H + j, c), cand = V::loadu(n + i, c);
      const V da = dv * (one - z) * (one - cand * cand);
      const V e_n = da * r;
      (e_n * q * (one - r)).store(eb + j, c);
      (dv * (V::loadu(h + b * h_ld + j, c) - cand) * z * (one - z)).store(eb + H + j, c);
      e_n.store(eb + 2 * H + j, c);
      da.store(d_an + i, c);
      (dv * z).store(d_next + i, c);
    }
  }
}

// The same two steps as ATen calls on (B, .) views (the ablation without FUSED).
void gates_forward_aten(Tensor g, Tensor gi, Tensor b_hn, Tensor h, Tensor n, Tensor out,
                        Tensor out2) {
  const int64_t H = n.size(1);
  Tensor rz = g.narrow(1, 0, 2 * H), q = g.narrow(1, 2 * H, H);
  rz.add_(gi.narrow(1, 0, 2 * H)).sigmoid_();
  if (b_hn.defined()) q.add_(b_hn);
  at::addcmul_out(n, gi.narrow(1, 2 * H, H), g.narrow(1, 0, H), q).tanh_();
  at::lerp_out(out, n, h, g.narrow(1, H, H));
  if (out2.defined()) out2.copy_(out);
}

void gates_backward_aten(Tensor d, Tensor d_out, Tensor g, Tensor n, Tensor h, Tensor e,
                         Tensor d_an, Tensor d_next) {
  const int64_t H = n.size(1);
  Tensor r = g.narrow(1, 0, H), z = g.narrow(1, H, H), q = g.narrow(1, 2 * H, H);
  Tensor e_r = e.narrow(1, 0, H), e_z = e.narrow(1, H, H), e_n = e.narrow(1, 2 * H, H);
  d.add_(d_out);
  at::mul_out(d_an, n, n).neg_().add_(1);  // 1 - n^2
  d_an.addcmul_(d_an, z, -1).mul_(d);      // d (1 - z)(1 - n^2)
  at::mul_out(e_n, d_an, r);
  at::mul_out(e_r, e_n, q).addcmul_(e_r, r, -1);            // d_an q r (1 - r)
  at::sub_out(e_z, h, n).mul_(d).mul_(z).addcmul_(e_z, z, -1);  // d (h - n) z (1 - z)
  at::mul_out(d_next, d, z);
}

struct Direction {
  Tensor w_ih, w_hh, bias_in, b_hn;  // (3H, I), (3H, H), (3H) and (H) or undefined
};

// weights: nn.GRU's order, [w_ih, w_hh, b_ih, b_hh] per direction, or [w_ih, w_hh] without
// biases. bias_in = [b_ir + b_hr | b_iz + b_hz | b_in], added with W_ih x; b_hn stays in q.
Direction direction(const std::vector<Tensor>& weights, int64_t k) {
  const int64_t per = weights.size() == 8 ? 4 : 2;
  Direction dir{weights[k * per].contiguous(), weights[k * per + 1].contiguous(), {}, {}};
  if (per == 4) {
    const int64_t H = dir.w_hh.size(1);
    const Tensor &b_ih = weights[k * per + 2], &b_hh = weights[k * per + 3];
    dir.bias_in = at::cat({b_ih.narrow(0, 0, 2 * H) + b_hh.narrow(0, 0, 2 * H),
                           b_ih.narrow(0, 2 * H, H)});
    dir.b_hn = b_hh.narrow(0, 2 * H, H).contiguous();
  }
  return dir;
}

Tensor buffer(const Tensor& like, at::IntArrayRef shape, std::optional<double> fill) {
  return fill.has_value() ? at::full(shape, *fill, like.options()) : at::empty(shape, like.options());
}

// Runs body(0) and body(1): on two threads with PARALLEL. Autograd is off in both (these
// ops are the backward, or the forward of an autograd.Function; the guard is per thread).
void run_directions(int64_t flags, const std::function<void(int64_t)>& body) {
  if (flags & PARALLEL) {
    at::parallel_for(0, 2, 1, [&](int64_t begin, int64_t end) {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      for (int64_t k = begin; k < end; ++k) body(k);
    });
  } else {
    body(0);
    body(1);
  }
}

// Checks of what the Python side guarantees, so that a direct call cannot misbehave.
void check_sizes(const Tensor& x, const Tensor& h0, const std::vector<Tensor>& weights) {
  TORCH_CHECK(x.dim() == 3 && x.size(0) > 0 && x.size(1) > 0 && x.size(2) > 0,
              "x must be (T, B, I) with T, B, I > 0, got ", x.sizes());
  TORCH_CHECK(h0.dim() == 3 && h0.size(0) == 2 && h0.size(1) == x.size(1) && h0.size(2) > 0,
              "h0 must be (2, B, H) with H > 0, got ", h0.sizes());
  TORCH_CHECK(weights.size() == 8 || weights.size() == 4,
              "weights must be nn.GRU's 8 (or 4 without biases), got ", weights.size());
  TORCH_CHECK(x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "x must be a float32 or float64 CPU tensor, got ", x.options());
}

// One direction k of layer_forward. Views of the direction's part of each buffer are made
// once; inside the time loop only the operands of the GEMM are tensors, the fused pass gets
// pointers (a tensor view per operand and step would cost more than the gate math at small
// sizes).
template <typename S>  // the scalar type (T is the number of steps)
void forward_direction(int64_t k, const Tensor& x, const Tensor& h0, const Direction& dir,
                       const Tensor& output, const Tensor& states, const Tensor& gates,
                       const Tensor& cand, bool keep, int64_t flags, int64_t chunk,
                       std::optional<double> fill) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(2);
  const Tensor w_ih_t = dir.w_ih.t(), w_hh_t = dir.w_hh.t();
  const Tensor out_k = output.narrow(2, k * H, H), h0_k = h0.select(0, k);  // (T, B, H) view
  const Tensor gates_k = keep ? gates.select(0, k) : buffer(x, {1, B, 3 * H}, fill);
  const Tensor cand_k = keep ? cand.select(0, k) : buffer(x, {1, B, H}, fill);
  Tensor gi = buffer(x, {chunk, B, 3 * H}, fill);  // the input projection of a chunk
  S* const out_p = out_k.data_ptr<S>();
  S* const states_p = keep ? states.select(0, k).data_ptr<S>() : nullptr;
  const S* const b_hn = dir.b_hn.defined() ? dir.b_hn.data_ptr<S>() : nullptr;
  int64_t first = 0;  // the first time (row of x) of the chunk in gi
  for (int64_t t = 0; t < T; ++t) {
    const int64_t time = k == 0 ? t : T - 1 - t, slot = keep ? time : 0;
    if (t % chunk == 0) {  // project the next chunk of steps: one GEMM
      const int64_t steps = std::min(chunk, T - t);
      first = k == 0 ? t : T - t - steps;
      Tensor rows = gi.narrow(0, 0, steps).view({steps * B, 3 * H});
      const Tensor xs = x.narrow(0, first, steps).view({steps * B, I});
      if (dir.bias_in.defined()) {
        at::addmm_out(rows, dir.bias_in, xs, w_ih_t);
      } else {
        at::mm_out(rows, xs, w_ih_t);
      }
    }
    // The previous state, read from the output in both modes: the same GEMM operands,
    // bitwise the same result with and without autograd.
    const Tensor h = t == 0 ? h0_k : out_k.select(0, k == 0 ? time - 1 : time + 1);
    Tensor g = gates_k.select(0, slot);
    at::mm_out(g, h, w_hh_t);  // (B, 3H) = h W_hh^T
    if (flags & FUSED) {
      gates_forward<S>(g.data_ptr<S>(), gi.data_ptr<S>() + (time - first) * B * 3 * H, b_hn,
                       h.data_ptr<S>(), h.stride(0), cand_k.data_ptr<S>() + slot * B * H,
                       out_p + time * B * 2 * H, 2 * H,
                       keep ? states_p + time * B * H : nullptr, B, H);
    } else {
      gates_forward_aten(g, gi.select(0, time - first), dir.b_hn, h, cand_k.select(0, slot),
                         out_k.select(0, time),
                         keep ? states.select(0, k).select(0, time) : Tensor());
    }
  }
}

// x (T, B, I), h0 (2, B, H) -> [output (T, B, 2H), h_n (2, B, H), states (2, T, B, H),
// gates (2, T, B, 3H) = [r | z | q], n (2, T, B, H)]; the last three only when keep.
std::vector<Tensor> layer_forward(const Tensor& x_in, const Tensor& h0_in,
                                  std::vector<Tensor> weights, bool keep, int64_t flags,
                                  int64_t chunk_elements, std::optional<double> fill) {
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  const Tensor x = x_in.contiguous(), h0 = h0_in.contiguous();
  check_sizes(x, h0, weights);
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(2);
  Tensor output = buffer(x, {T, B, 2 * H}, fill), h_n = at::empty({2, B, H}, x.options());
  Tensor states, gates, cand;
  if (keep) {
    states = buffer(x, {2, T, B, H}, fill);
    gates = buffer(x, {2, T, B, 3 * H}, fill);
    cand = buffer(x, {2, T, B, H}, fill);
  }
  const int64_t chunk = chunk_steps(flags, chunk_elements, T, B, H);
  run_directions(flags, [&](int64_t k) {
    const Direction dir = direction(weights, k);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "layer_forward", [&] {
      forward_direction<scalar_t>(k, x, h0, dir, output, states, gates, cand, keep, flags,
                                  chunk, fill);
    });
    h_n.select(0, k).copy_(output.select(0, k == 0 ? T - 1 : 0).narrow(1, k * H, H));
  });
  return {output, h_n, states, gates, cand};
}

// The weight and input gradients of the steps of one chunk, whose rows e (steps, B, 3H) and
// d_an (steps, B, H) hold times first .. first + steps - 1: a few GEMMs, accumulated.
void flush_chunk(int64_t k, int64_t first, int64_t steps, const Tensor& e, const Tensor& d_an,
                 const Tensor& x, const Tensor& h0, const Tensor& states, const Direction& dir,
                 Tensor& d_w_ih, Tensor& d_w_hh, Tensor& d_b_hh, Tensor& d_b_in, Tensor& dx) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(2);
  const Tensor es = e.narrow(0, 0, steps).view({steps * B, 3 * H});
  const Tensor das = d_an.narrow(0, 0, steps).view({steps * B, H});
  const Tensor xs = x.narrow(0, first, steps).view({steps * B, I});
  d_w_ih.narrow(0, 0, 2 * H).addmm_(es.narrow(1, 0, 2 * H).t(), xs);
  d_w_ih.narrow(0, 2 * H, H).addmm_(das.t(), xs);
  // The previous state of time t is states[t - 1] (forward) or states[t + 1] (backward
  // direction), and h0 for the direction's first step: one block of states, and h0 apart.
  const bool has_h0 = k == 0 ? first == 0 : first + steps == T;
  const int64_t h0_row = k == 0 ? 0 : steps - 1;
  const int64_t r0 = (k == 0 && has_h0) ? 1 : 0, rows = steps - (has_h0 ? 1 : 0);
  if (rows > 0) {
    const Tensor prev = states.select(0, k).narrow(0, k == 0 ? first - 1 + r0 : first + 1, rows);
    d_w_hh.addmm_(e.narrow(0, r0, rows).reshape({rows * B, 3 * H}).t(),
                  prev.reshape({rows * B, H}));
  }
  if (has_h0) d_w_hh.addmm_(e.select(0, h0_row).t(), h0.select(0, k));
  if (d_b_hh.defined()) {
    d_b_hh.add_(es.sum(0));
    d_b_in.add_(das.sum(0));
  }
  if (dx.defined()) {  // this direction's share of dL/dx for these times
    Tensor dxs = dx.narrow(0, first, steps).view({steps * B, I});
    at::mm_out(dxs, es.narrow(1, 0, 2 * H), dir.w_ih.narrow(0, 0, 2 * H));
    dxs.addmm_(das, dir.w_ih.narrow(0, 2 * H, H));
  }
}

// One direction k of layer_backward: fills grads (its 2 or 4 weight gradients), dh0[k] and
// dx_dirs[k] (if defined). Views made once, pointers inside the loop, as in the forward.
template <typename S>  // the scalar type (T is the number of steps)
void backward_direction(int64_t k, const Tensor& d_output, const Tensor& d_h_n, const Tensor& x,
                        const Tensor& h0, const Tensor& states, const Tensor& gates,
                        const Tensor& cand, const Direction& dir, int64_t flags, int64_t chunk,
                        std::optional<double> fill, const Tensor& dh0, const Tensor& dx_dirs,
                        std::vector<Tensor>& grads) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(2);
  const bool has_bias = dir.bias_in.defined();
  Tensor e = buffer(x, {chunk, B, 3 * H}, fill), d_an = buffer(x, {chunk, B, H}, fill);
  Tensor d = d_h_n.select(0, k).clone(), d_next = buffer(x, {B, H}, fill);  // contiguous
  Tensor d_w_ih = at::zeros({3 * H, I}, x.options()), d_w_hh = at::zeros({3 * H, H}, x.options());
  Tensor d_b_hh = has_bias ? at::zeros({3 * H}, x.options()) : Tensor();
  Tensor d_b_in = has_bias ? at::zeros({H}, x.options()) : Tensor();
  Tensor dx = dx_dirs.defined() ? dx_dirs.select(0, k) : Tensor();
  const Tensor states_k = states.select(0, k), h0_k = h0.select(0, k);
  const Tensor gates_k = gates.select(0, k), cand_k = cand.select(0, k);
  const Tensor d_out_k = d_output.narrow(2, k * H, H);  // (T, B, H) view, rows 2H apart
  for (int64_t top = T; top > 0; top -= chunk) {  // steps low .. top - 1, last step first
    const int64_t low = std::max<int64_t>(0, top - chunk), steps = top - low;
    const int64_t first = k == 0 ? low : T - top;  // the chunk's earliest time
    for (int64_t t = top - 1; t >= low; --t) {
      const int64_t time = k == 0 ? t : T - 1 - t;
      const Tensor& h_base = t == 0 ? h0_k : states_k;
      const int64_t h_row = t == 0 ? 0 : (k == 0 ? time - 1 : time + 1);
      Tensor e_t = e.select(0, time - first);
      if (flags & FUSED) {
        gates_backward<S>(d.data_ptr<S>(), d_out_k.data_ptr<S>() + time * B * 2 * H, 2 * H,
                          gates_k.data_ptr<S>() + time * B * 3 * H,
                          cand_k.data_ptr<S>() + time * B * H,
                          h_base.data_ptr<S>() + h_row * B * H, H, e_t.data_ptr<S>(),
                          d_an.data_ptr<S>() + (time - first) * B * H, d_next.data_ptr<S>(), B,
                          H);
      } else {
        const Tensor h = t == 0 ? h0_k : states_k.select(0, h_row);
        gates_backward_aten(d, d_out_k.select(0, time), gates_k.select(0, time),
                            cand_k.select(0, time), h, e_t, d_an.select(0, time - first),
                            d_next);
      }
      d_next.addmm_(e_t, dir.w_hh);  // + [dL/da_r, dL/da_z, dL/da_n r] @ W_hh
      std::swap(d, d_next);
    }
    flush_chunk(k, first, steps, e, d_an, x, h0, states, dir, d_w_ih, d_w_hh, d_b_hh, d_b_in,
                dx);
  }
  dh0.select(0, k).copy_(d);
  const int64_t per = has_bias ? 4 : 2;
  grads[k * per] = d_w_ih;
  grads[k * per + 1] = d_w_hh;
  if (has_bias) {
    grads[k * per + 2] = at::cat({d_b_hh.narrow(0, 0, 2 * H), d_b_in});
    grads[k * per + 3] = d_b_hh;
  }
}

// The backward of layer_forward: d_output (T, B, 2H), d_h_n (2, B, H) ->
// [dx (T, B, I) (undefined unless need_dx), dh0 (2, B, H), then per direction
// d_w_ih, d_w_hh (and d_b_ih, d_b_hh with biases)], in nn.GRU's parameter order. With
// CHUNKED the per-step gradients e and d_an live in a chunk-sized buffer, and the weight
// gradients of each chunk are added up as soon as it is done; without, one chunk of T steps.
std::vector<Tensor> layer_backward(const Tensor& d_output_in, const Tensor& d_h_n_in,
                                   const Tensor& x_in, const Tensor& h0_in, const Tensor& states,
                                   const Tensor& gates, const Tensor& cand,
                                   std::vector<Tensor> weights, bool need_dx, int64_t flags,
                                   int64_t chunk_elements, std::optional<double> fill) {
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  // Row-major everywhere the fused pass reads with pointers: autograd may hand over
  // gradients with any strides (a transposed h_n in the loss, say).
  const Tensor d_output = d_output_in.contiguous(), d_h_n = d_h_n_in.contiguous();
  const Tensor x = x_in.contiguous(), h0 = h0_in.contiguous();
  check_sizes(x, h0, weights);
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(2);
  TORCH_CHECK(states.is_contiguous() && gates.is_contiguous() && cand.is_contiguous(),
              "states, gates and n must be the contiguous buffers layer_forward returned");
  const int64_t chunk = chunk_steps(flags, chunk_elements, T, B, H);
  Tensor dx_dirs = need_dx ? buffer(x, {2, T, B, I}, fill) : Tensor();
  Tensor dh0 = at::empty({2, B, H}, x.options());
  std::vector<Tensor> grads(weights.size() == 8 ? 8 : 4);
  run_directions(flags, [&](int64_t k) {
    const Direction dir = direction(weights, k);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "layer_backward", [&] {
      backward_direction<scalar_t>(k, d_output, d_h_n, x, h0, states, gates, cand, dir, flags,
                                   chunk, fill, dh0, dx_dirs, grads);
    });
  });
  Tensor dx = need_dx ? dx_dirs.select(0, 0) + dx_dirs.select(0, 1) : Tensor();
  std::vector<Tensor> result{dx, dh0};
  result.insert(result.end(), grads.begin(), grads.end());
  return result;
}

}  // namespace

TORCH_LIBRARY(birnn_fast, m) {
  m.def("layer_forward(Tensor x, Tensor h0, Tensor[] weights, bool keep, int flags,"
        " int chunk_elements, float? fill) -> Tensor[]");
  m.def("layer_backward(Tensor d_output, Tensor d_h_n, Tensor x, Tensor h0, Tensor states,"
        " Tensor gates, Tensor n, Tensor[] weights, bool need_dx, int flags, int chunk_elements,"
        " float? fill) -> Tensor[]");
  m.impl("layer_forward", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(layer_forward));
  m.impl("layer_backward", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(layer_backward));
}
