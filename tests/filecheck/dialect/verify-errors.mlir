// Ops that break the tfl dialect's rules are rejected with a message, not a traceback.
// RUN: not litec opt %s 2>&1 | filecheck %s

builtin.module {
  func.func @main(%x: tensor<1x4xf32>) -> tensor<1x5xf32> {
    %none = tfl.no_value : none
    %y = tfl.reshape %x, %none : (tensor<1x4xf32>, none) -> tensor<1x5xf32>
    func.return %y : tensor<1x5xf32>
  }
}

// CHECK: litec: error: {{.*}}tfl.reshape: 4 elements cannot become 5
// CHECK-NOT: Traceback
