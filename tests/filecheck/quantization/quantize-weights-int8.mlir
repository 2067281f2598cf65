// Dynamic-range quantization: constant weights of conv / depthwise / fully-connected ops
// become int8 per output channel (zero point 0), activations and bias stay float32. Weights
// under `min_elements` values (default 1024, as TFLite) and non-constant weights stay float.
// RUN: litec opt %s -p 'quantize-weights-int8{min_elements=4}' | filecheck %s
// RUN: litec opt %s -p quantize-weights-int8 | filecheck %s --check-prefix=SMALL
// RUN: not litec opt %s -p 'quantize-weights-int8{min_elements=many}' 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @main(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
    %w = tfl.const dense_resource<dr8_w> : tensor<2x2xf32>
    %b = tfl.const dense_resource<dr8_b> : tensor<2xf32>
    %y = tfl.fully_connected %x, %w, %b {fused_activation_function = "NONE", weights_format = "DEFAULT", keep_num_dims = false, asymmetric_quantize_inputs = false} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    func.return %y : tensor<1x2xf32>
  }
  func.func @weights_not_constant(%x: tensor<1x2xf32>, %w: tensor<2x2xf32>) -> tensor<1x2xf32> {
    %none = tfl.no_value : none
    %y = tfl.fully_connected %x, %w, %none {fused_activation_function = "NONE", weights_format = "DEFAULT", keep_num_dims = false, asymmetric_quantize_inputs = false} : (tensor<1x2xf32>, tensor<2x2xf32>, none) -> tensor<1x2xf32>
    func.return %y : tensor<1x2xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      dr8_w: "0x040000000000003f000080bf0000803e00000040",
      dr8_b: "0x04000000cdcccc3dcdcc4cbe"
    }
  }
#-}

// CHECK-LABEL: func.func @main
// CHECK-NOT: dense_resource<dr8_w>
// CHECK: %[[W:.*]] = tfl.const dense_resource<dr8_w_i8> : tensor<2x2x!quant.uniform<i8:f32:0, {0.007874015718698502:0, 0.015748031437397003:0}>>
// CHECK: tfl.fully_connected %x, %[[W]], %b {{{.*}}asymmetric_quantize_inputs = true{{.*}}} : (tensor<1x2xf32>, {{.*}}, tensor<2xf32>) -> tensor<1x2xf32>
// CHECK-LABEL: func.func @weights_not_constant
// CHECK: tfl.fully_connected %x, %w, %none
// CHECK: dr8_w_i8: "0x400000004081107f"

// SMALL-LABEL: func.func @main
// SMALL: tfl.fully_connected %x, %w, %b {{.*}} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>)

// ERR: litec: error: bad pass pipeline
// ERR-SAME: min_elements
