// The tfl and quant dialects print and parse back unchanged.
// RUN: litec opt %s | filecheck %s
// RUN: litec opt %s -o %t.mlir && litec opt %t.mlir | filecheck %s

builtin.module {
  func.func @main(%x: tensor<1x8x8x3x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x8x8x4x!quant.uniform<i8:f32, 0.25:1>> {
    %w = tfl.const dense_resource<rt_w> : tensor<4x1x1x3x!quant.uniform<i8:f32:0, {0.5:0, 0.25:0, 0.125:0, 1.5:0}>>
    %none = tfl.no_value : none
    %y = tfl.conv_2d %x, %w, %none {padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "RELU6"} : (tensor<1x8x8x3x!quant.uniform<i8:f32, 0.5:-3>>, tensor<4x1x1x3x!quant.uniform<i8:f32:0, {0.5:0, 0.25:0, 0.125:0, 1.5:0}>>, none) -> tensor<1x8x8x4x!quant.uniform<i8:f32, 0.25:1>>
    func.return %y : tensor<1x8x8x4x!quant.uniform<i8:f32, 0.25:1>>
  }
}

{-#
  dialect_resources: {
    builtin: {
      rt_w: "0x40000000010203040506070809101112"
    }
  }
#-}

// CHECK: func.func @main(%{{.*}}: tensor<1x8x8x3x!quant.uniform<i8:f32, 0.5:-3>>
// CHECK: tfl.const dense_resource<rt_w> : tensor<4x1x1x3x!quant.uniform<i8:f32:0, {0.5:0, 0.25:0, 0.125:0, 1.5:0}>>
// CHECK: tfl.no_value : none
// CHECK: tfl.conv_2d {{.*}} fused_activation_function = "RELU6"
// CHECK: rt_w: "0x40000000010203040506070809101112"
