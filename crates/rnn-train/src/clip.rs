//! Gradient clipping. burn's `GradientClipping` clips each tensor on its own (its `Norm` is a
//! per-tensor norm); TF's `clip_by_global_norm` scales all gradients by one factor, computed
//! from the norm of all of them together. Both by-value and global-norm clipping are here.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::TrainError;

/// Visits a module's float parameters and applies `f` to each one's gradient in place.
struct MapGrads<'a, F: FnMut(Tensor<1>) -> Tensor<1>> {
    grads: &'a mut GradientsParams,
    f: F,
}

impl<F: FnMut(Tensor<1>) -> Tensor<1>> ModuleVisitor for MapGrads<'_, F> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let shape = g.shape();
            let flat = g.reshape([shape.num_elements()]);
            self.grads
                .register::<D>(param.id, (self.f)(flat).reshape(shape));
        }
    }
}

/// The squared L2 norm of every gradient of `model`, summed on the device: `[1]`.
struct SumSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// The global norm `sqrt(Σ_p ||g_p||²)` of the gradients of `model`'s parameters.
pub fn global_norm<M: Module>(grads: &GradientsParams, model: &M) -> f32 {
    let mut visitor = SumSquares { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map_or(0.0, |t| t.sqrt().into_scalar::<f32>())
}

/// TF's `clip_by_global_norm`: every gradient times `max_norm / max(global_norm, max_norm)`.
/// Returns the clipped gradients and the global norm before clipping.
///
/// A global norm that is NaN or infinite (some gradient is NaN or ±inf) is an error,
/// [`TrainError::NonFiniteGradients`]: TF would scale by `max_norm / inf = 0` (turning the
/// infinite elements into NaN) or pass NaN on, and an optimiser step on either spoils the
/// weights. One readback of the norm per call (the norm is returned anyway).
pub fn clip_by_global_norm<M: Module>(
    mut grads: GradientsParams,
    model: &M,
    max_norm: f32,
) -> Result<(GradientsParams, f32), TrainError> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(TrainError::invalid(
            "max_norm",
            "a finite number > 0",
            max_norm,
        ));
    }
    let norm = global_norm(&grads, model);
    if !norm.is_finite() {
        return Err(TrainError::NonFiniteGradients {
            norm,
            context: String::new(),
        });
    }
    if norm > max_norm {
        let scale = max_norm / norm;
        model.visit(&mut MapGrads {
            grads: &mut grads,
            f: |g| g * scale,
        });
    }
    Ok((grads, norm))
}

/// TF's `clip_by_value` on every gradient: each element clamped to `[-threshold, threshold]`.
pub fn clip_by_value<M: Module>(
    mut grads: GradientsParams,
    model: &M,
    threshold: f32,
) -> Result<GradientsParams, TrainError> {
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(TrainError::invalid(
            "threshold",
            "a finite number > 0",
            threshold,
        ));
    }
    model.visit(&mut MapGrads {
        grads: &mut grads,
        f: |g| g.clamp(-threshold, threshold),
    });
    Ok(grads)
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::TensorData;

    use super::*;

    #[derive(Module, Debug)]
    struct Two {
        a: Param<Tensor<1>>,
        b: Param<Tensor<2>>,
    }

    /// A model whose gradients are known: loss = a·[3, 0] + sum(b ⊙ [[0, 4]]) gives
    /// grad a = [3, 0], grad b = [[0, 4]], global norm 5.
    fn setup() -> (Two, GradientsParams) {
        let dev = rnn_core::device::default_device().unwrap().autodiff();
        let model = Two {
            a: Param::from_tensor(Tensor::zeros([2], &dev)),
            b: Param::from_tensor(Tensor::zeros([1, 2], &dev)),
        };
        let ga = Tensor::<1>::from_data(TensorData::new(vec![3.0f32, 0.0], [2]), &dev);
        let gb = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 4.0], [1, 2]), &dev);
        let loss = (model.a.val() * ga).sum() + (model.b.val() * gb).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (model, grads)
    }

    fn vals<const D: usize>(g: &GradientsParams, p: &Param<Tensor<D>>) -> Vec<f32> {
        g.get::<D>(p.id)
            .unwrap()
            .into_data()
            .try_into_vec_as()
            .unwrap()
    }

    #[test]
    fn global_norm_scales_all_gradients_by_one_factor() {
        let (model, grads) = setup();
        assert!((global_norm(&grads, &model) - 5.0).abs() < 1e-6);
        let (clipped, norm) = clip_by_global_norm(grads, &model, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        assert_eq!(vals(&clipped, &model.a), vec![0.6, 0.0]);
        assert_eq!(vals(&clipped, &model.b), vec![0.0, 0.8]);
        // Per-tensor clipping (burn's Norm) would give a = [1, 0], b = [0, 1]: not the same.
        let (model, grads) = setup();
        let (unclipped, _) = clip_by_global_norm(grads, &model, 10.0).unwrap();
        assert_eq!(vals(&unclipped, &model.a), vec![3.0, 0.0]);
    }

    #[test]
    fn non_finite_gradients_are_an_error_not_passed_on() {
        let dev = rnn_core::device::default_device().unwrap().autodiff();
        let model = Two {
            a: Param::from_tensor(Tensor::zeros([2], &dev)),
            b: Param::from_tensor(Tensor::zeros([1, 2], &dev)),
        };
        // d/da of sqrt(s - detach(s)) * 0 at s = 0 is 0 * inf = NaN; the loss itself is 0.
        let s = model.a.val().sum();
        let nan = (s.clone() - s.detach()).sqrt() * 0.0;
        let loss = nan + (model.b.val() * 3.0).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        assert!(global_norm(&grads, &model).is_nan());
        let Err(err) = clip_by_global_norm(grads, &model, 1.0) else {
            panic!("a NaN gradient is refused");
        };
        let err = err.to_string();
        assert_eq!(
            err,
            "the gradients' global norm is NaN: a gradient is NaN or infinite (or too large to \
             square in f32)"
        );
        // An infinite one too (scaling by max_norm / inf = 0 would give NaN elements).
        let loss = (model.a.val() * f32::INFINITY).sum() + model.b.val().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let err = clip_by_global_norm(grads, &model, 1.0).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("the gradients' global norm is inf"),
            "{err}"
        );
    }

    #[test]
    fn by_value_clamps_each_element() {
        let (model, grads) = setup();
        let clipped = clip_by_value(grads, &model, 3.5).unwrap();
        assert_eq!(vals(&clipped, &model.a), vec![3.0, 0.0]);
        assert_eq!(vals(&clipped, &model.b), vec![0.0, 3.5]);
        let (model, grads) = setup();
        let err = clip_by_value(grads, &model, -1.0).unwrap_err().to_string();
        assert!(err.contains("`threshold`") && err.contains("-1"), "{err}");
    }
}
