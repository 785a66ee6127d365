//! The three PaddleOCR networks: their ONNX files and loading their weights into the burn
//! code generated from them.

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::store::burn_pack::{Bytes, DType, Shape, Tensor as PackTensor};

use crate::error::OcrError;
use crate::onnx_file::{OnnxFile, Values};

/// Text detection (DB) model file.
pub const DET_FILE: &str = "ch_PP-OCRv4_det_infer.onnx";
/// Text recognition (SVTR-LCNet, CTC) model file.
pub const REC_FILE: &str = "ch_PP-OCRv4_rec_infer.onnx";
/// Text direction (0 / 180 degrees) classification model file.
pub const CLS_FILE: &str = "ch_ppocr_mobile_v2.0_cls_infer.onnx";

/// Element type of a generated network's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `f32` weights.
    F32,
    /// `i32` constants (shape arithmetic).
    I32,
    /// `i64` constants (shape arithmetic). The current tables have none, but burn-onnx
    /// emits them for other exports, so regenerated tables may.
    #[allow(dead_code)]
    I64,
}

/// One parameter of a generated network: its module path, the ONNX tensor holding its
/// values, its shape in the module (the ONNX tensor may have other, same-sized, dims) and
/// its element type.
pub type WeightSource = (&'static str, &'static str, &'static [usize], Kind);

/// Fills `module`'s parameters from `onnx` through `table` (a `*_weights::WEIGHTS` table).
pub fn load_weights<M: Module>(
    mut module: M,
    onnx: &OnnxFile,
    table: &[WeightSource],
) -> Result<M, OcrError> {
    let mismatch = |problem: String| OcrError::WeightsMismatch {
        path: onnx.path.clone(),
        problem,
    };
    let mut tensors = Vec::with_capacity(table.len());
    for &(module_path, onnx_name, shape, kind) in table {
        let source = onnx.tensor(onnx_name)?;
        if source.values.len() != shape.iter().product::<usize>() {
            return Err(mismatch(format!(
                "`{onnx_name}` has dims {:?}, `{module_path}` needs {shape:?}",
                source.dims
            )));
        }
        let (dtype, bytes) = match (&source.values, kind) {
            (Values::Float(values), Kind::F32) => (DType::F32, Bytes::from_elems(values.clone())),
            (Values::Int(values), Kind::I64) => (DType::I64, Bytes::from_elems(values.clone())),
            (Values::Int(values), Kind::I32) => {
                let narrowed: Result<Vec<i32>, _> =
                    values.iter().map(|&v| i32::try_from(v)).collect();
                let narrowed =
                    narrowed.map_err(|_| mismatch(format!("`{onnx_name}` does not fit in i32")))?;
                (DType::I32, Bytes::from_elems(narrowed))
            }
            _ => {
                return Err(mismatch(format!(
                    "`{onnx_name}` and `{module_path}` ({kind:?}) differ in element type"
                )));
            }
        };
        tensors.push(PackTensor::new(
            module_path.to_owned(),
            dtype,
            Shape::from(shape.to_vec()),
            None,
            bytes,
        ));
    }
    let result = module.apply(tensors, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(mismatch(format!(
            "errors {:?}, missing {:?}",
            result.errors, result.missing
        )));
    }
    Ok(module)
}
