// Post-training int8 quantization calibrated on an .npz of input samples: per-channel int8
// weights, int32 bias, calibrated per-tensor activations, fixed SOFTMAX output parameters,
// and a float interface (QUANTIZE at the input, DEQUANTIZE at the output). An op without
// an int8 rule (here NEG, float in TFLite's int8 models too) stays float between a DEQUANTIZE and a QUANTIZE.
// RUN: %python -c "import numpy as np; np.savez('%t.npz', x=np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32))"
// RUN: %python -c "import numpy as np; np.savez('%t.bad.npz', x=np.zeros((8, 5), np.float32))"
// RUN: litec opt %s -p 'quantize{calibration="%t.npz"}' | filecheck %s
// RUN: not litec opt %s -p quantize 2>&1 | filecheck %s --check-prefix=NODATA
// RUN: not litec opt %s -p 'quantize{calibration="%t.bad.npz"}' 2>&1 | filecheck %s --check-prefix=SHAPE
// RUN: not litec opt %s -p 'quantize{calibration="%t.missing.npz"}' 2>&1 | filecheck %s --check-prefix=FILE

builtin.module {
  func.func @main(%x: tensor<1x4xf32> {tfl.name = "x"}) -> tensor<1x3xf32> {
    %w = tfl.const dense_resource<ptq_w> : tensor<3x4xf32>
    %b = tfl.const dense_resource<ptq_b> : tensor<3xf32>
    %y = tfl.fully_connected %x, %w, %b {fused_activation_function = "NONE", weights_format = "DEFAULT", keep_num_dims = false, asymmetric_quantize_inputs = false} : (tensor<1x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<1x3xf32>
    %g = tfl.neg %y : (tensor<1x3xf32>) -> tensor<1x3xf32>
    %s = tfl.softmax %g {beta = 1.0 : f32} : (tensor<1x3xf32>) -> tensor<1x3xf32>
    func.return %s : tensor<1x3xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      ptq_w: "0x04000000000080bf5d7451bfbae822bf2fbae8bee9a28bbe8c2ebabd8c2eba3de9a28b3e2fbae83ebae8223f5d74513f0000803f",
      ptq_b: "0x04000000cdcccc3dcdcc4cbe9a99993e"
    }
  }
#-}

// CHECK-LABEL: func.func @main
// CHECK: %[[XQ:.*]] = tfl.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, [[XS:.*]]>>
// CHECK-DAG: %[[W:.*]] = tfl.const dense_resource<ptq_w_q> : tensor<3x4x!quant.uniform<i8:f32:0, {0.007874015718698502:0, 0.0021474589593708515:0, 0.007874015718698502:0}>>
// CHECK-DAG: %[[B:.*]] = tfl.const dense_resource<ptq_b_q> : tensor<3x!quant.uniform<i32:f32:0,
// CHECK: %[[Y:.*]] = tfl.fully_connected %[[XQ]], %[[W]], %[[B]] {{.*}} -> tensor<1x3x!quant.uniform<i8:f32, {{.*}}>>
// CHECK: %[[YF:.*]] = tfl.dequantize %[[Y]] : {{.*}} -> tensor<1x3xf32>
// CHECK: %[[G:.*]] = tfl.neg %[[YF]] : (tensor<1x3xf32>) -> tensor<1x3xf32>
// CHECK: %[[GQ:.*]] = tfl.quantize %[[G]]
// CHECK: %[[S:.*]] = tfl.softmax %[[GQ]] {{.*}} -> tensor<1x3x!quant.uniform<i8:f32, 0.00390625:-128>>
// CHECK: %[[SF:.*]] = tfl.dequantize %[[S]] : {{.*}} -> tensor<1x3xf32>
// CHECK: func.return %[[SF]] : tensor<1x3xf32>
// CHECK-NOT: ptq_w:

// NODATA: litec: error: quantize needs calibration data: quantize{calibration="PATH.npz"}
// SHAPE: litec: error: calibration samples for input 'x' have shape [8, 5]; expected [N*1, 4]
// FILE: litec: error: cannot read calibration data '{{.*}}missing.npz'
