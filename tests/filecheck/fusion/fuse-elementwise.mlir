// fuse-elementwise: chains of elementwise ops whose intermediates are used only inside the
// chain become one fused.elementwise (what the CPU runs as one kernel).
// RUN: litec opt %s -p fuse-elementwise | filecheck %s
// RUN: not litec opt %s -p 'fuse-elementwise{target=nowhere}' 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  // A diamond: %s feeds both the logistic and the mul, both inside the chain; %b broadcasts.
  func.func @chain(%x: tensor<2x16xf32>, %b: tensor<16xf32>) -> tensor<2x16xf32> {
    %s = tfl.add %x, %b {fused_activation_function = "NONE"} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32> loc("chain":1:0)
    %r = tfl.logistic %s : (tensor<2x16xf32>) -> tensor<2x16xf32> loc("chain":2:0)
    %m = tfl.mul %r, %s {fused_activation_function = "RELU6"} : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32> loc("chain":3:0)
    func.return %m : tensor<2x16xf32>
  }
  // int8 in, float math, int8 out: DEQUANTIZE -> MUL -> QUANTIZE.
  func.func @quantized(%x: tensor<64x!quant.uniform<i8:f32, 0.5:-3>>, %w: tensor<64xf32>) -> tensor<64x!quant.uniform<i8:f32, 0.25:1>> {
    %f = tfl.dequantize %x : (tensor<64x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<64xf32>
    %m = tfl.mul %f, %w {fused_activation_function = "NONE"} : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
    %q = tfl.quantize %m : (tensor<64xf32>) -> tensor<64x!quant.uniform<i8:f32, 0.25:1>>
    func.return %q : tensor<64x!quant.uniform<i8:f32, 0.25:1>>
  }
  // Must not fire: %s is also a result of the function.
  func.func @multi_use(%x: tensor<2x16xf32>) -> (tensor<2x16xf32>, tensor<2x16xf32>) {
    %s = tfl.tanh %x : (tensor<2x16xf32>) -> tensor<2x16xf32>
    %r = tfl.relu %s : (tensor<2x16xf32>) -> tensor<2x16xf32>
    func.return %s, %r : tensor<2x16xf32>, tensor<2x16xf32>
  }
  // Must not fire: the relu's result is broadcast by the add (another shape).
  func.func @broadcast_intermediate(%x: tensor<2x16xf32>, %b: tensor<16xf32>) -> tensor<2x16xf32> {
    %r = tfl.relu %b : (tensor<16xf32>) -> tensor<16xf32>
    %s = tfl.add %x, %r {fused_activation_function = "NONE"} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32>
    func.return %s : tensor<2x16xf32>
  }
  // Must not fire: int8 LOGISTIC and TANH run as table lookups on the CPU, not in a vector loop.
  func.func @int8_tables(%x: tensor<64x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<64x!quant.uniform<i8:f32, 0.0078125:0>> {
    %l = tfl.logistic %x : (tensor<64x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<64x!quant.uniform<i8:f32, 0.00390625:-128>>
    %t = tfl.tanh %l : (tensor<64x!quant.uniform<i8:f32, 0.00390625:-128>>) -> tensor<64x!quant.uniform<i8:f32, 0.0078125:0>>
    func.return %t : tensor<64x!quant.uniform<i8:f32, 0.0078125:0>>
  }
}

// CHECK-LABEL: func.func @chain
// CHECK:       %[[M:.*]] = fused.elementwise %x, %b : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32> {
// CHECK:         %[[S:.*]] = tfl.add
// CHECK-NEXT:    %[[R:.*]] = tfl.logistic %[[S]]
// CHECK-NEXT:    %[[M2:.*]] = tfl.mul %[[R]], %[[S]] {fused_activation_function = "RELU6"}
// CHECK-NEXT:    fused.yield %[[M2]] : tensor<2x16xf32>
// CHECK-NEXT:  } loc("chain":3:0)
// CHECK-NEXT:  func.return %[[M]]

// CHECK-LABEL: func.func @quantized
// CHECK:       fused.elementwise %x, %w
// CHECK:         tfl.dequantize
// CHECK-NEXT:    tfl.mul
// CHECK-NEXT:    tfl.quantize
// CHECK-NEXT:    fused.yield

// CHECK-LABEL: func.func @multi_use
// CHECK-NOT:   fused.elementwise
// CHECK:       tfl.tanh
// CHECK-NEXT:  tfl.relu

// CHECK-LABEL: func.func @broadcast_intermediate
// CHECK-NOT:   fused.elementwise
// CHECK:       tfl.relu
// CHECK-NEXT:  tfl.add

// CHECK-LABEL: func.func @int8_tables
// CHECK-NOT:   fused.elementwise
// CHECK:       tfl.logistic
// CHECK-NEXT:  tfl.tanh

// ERR: litec: error: {{.*}}unknown target 'nowhere'
