// fused.elementwise prints and parses back unchanged; a body that does not match the
// op's operands and results is refused by the verifier.
// RUN: litec opt %s | filecheck %s
// RUN: litec opt %s -o %t.mlir && litec opt %t.mlir | filecheck %s
// RUN: sed -e 's/fused.yield %r : tensor<2x16xf32>/fused.yield/' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @main(%x: tensor<2x16xf32>, %b: tensor<16xf32>) -> tensor<2x16xf32> {
    %y = fused.elementwise %x, %b : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32> {
    ^bb0(%x1: tensor<2x16xf32>, %b1: tensor<16xf32>):
      %s = tfl.add %x1, %b1 {fused_activation_function = "NONE"} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32>
      %r = tfl.logistic %s : (tensor<2x16xf32>) -> tensor<2x16xf32>
      fused.yield %r : tensor<2x16xf32>
    } loc("main":7:0)
    func.return %y : tensor<2x16xf32>
  }
  func.func @quantized(%x: tensor<2x16x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<2x16x!quant.uniform<i8:f32, 0.25:1>> {
    %y = fused.elementwise %x : (tensor<2x16x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<2x16x!quant.uniform<i8:f32, 0.25:1>> {
    ^bb0(%x1: tensor<2x16x!quant.uniform<i8:f32, 0.5:-3>>):
      %f = tfl.dequantize %x1 : (tensor<2x16x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<2x16xf32>
      %q = tfl.quantize %f : (tensor<2x16xf32>) -> tensor<2x16x!quant.uniform<i8:f32, 0.25:1>>
      fused.yield %q : tensor<2x16x!quant.uniform<i8:f32, 0.25:1>>
    }
    func.return %y : tensor<2x16x!quant.uniform<i8:f32, 0.25:1>>
  }
}

// CHECK-LABEL: func.func @main
// CHECK:       %[[Y:.*]] = fused.elementwise %{{.*}}, %{{.*}} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32> {
// CHECK-NEXT:  ^{{.*}}(%[[X1:[a-z0-9_]+]]: tensor<2x16xf32>{{.*}}, %[[B1:[a-z0-9_]+]]: tensor<16xf32>
// CHECK-NEXT:    %[[S:.*]] = tfl.add %[[X1]], %[[B1]] {fused_activation_function = "NONE"}
// CHECK-NEXT:    %[[R:.*]] = tfl.logistic %[[S]]
// CHECK-NEXT:    fused.yield %[[R]] : tensor<2x16xf32>
// CHECK-NEXT:  } loc("main":7:0)
// CHECK:       func.return %[[Y]]
// CHECK-LABEL: func.func @quantized
// CHECK:       fused.elementwise
// CHECK:         tfl.dequantize
// CHECK-NEXT:    tfl.quantize
// CHECK-NEXT:    fused.yield %{{.*}} : tensor<2x16x!quant.uniform<i8:f32, 0.25:1>>

// ERR: litec: error: {{.*}}fused.elementwise: the yielded values must match the results
