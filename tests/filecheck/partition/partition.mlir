// Every operator gets a placement (target and reason); constants get none; an unknown
// target is a one-line error.
// RUN: litec opt %s -p partition | filecheck %s
// RUN: litec opt %s -p 'partition{target=cpu}' --print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=DUMP
// RUN: not litec opt %s -p 'partition{target=tpu}' 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<8xf32> {
    %shape = tfl.const dense_resource<partition_shape> : tensor<1xi32>
    %y = tfl.reshape %x, %shape : (tensor<2x4xf32>, tensor<1xi32>) -> tensor<8xf32>
    %z = tfl.custom %y {custom_code = "NoSuchOp"} : (tensor<8xf32>) -> tensor<8xf32>
    func.return %z : tensor<8xf32>
  }
  func.func @only_data() -> tensor<1xi32> {
    %c = tfl.const dense_resource<partition_shape> : tensor<1xi32>
    func.return %c : tensor<1xi32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      partition_shape: "0x0400000008000000"
    }
  }
#-}

// CHECK-LABEL: func.func @main
// CHECK: tfl.const dense_resource<partition_shape> : tensor<1xi32> loc(unknown)
// CHECK: tfl.reshape {{.*}}litec.target = "cpu", litec.reason = "a view: shares its input's buffer"
// CHECK: tfl.custom {{.*}}litec.target = "cpu", litec.reason = "no CPU kernel for tfl.custom:NoSuchOp"
// CHECK-LABEL: func.func @only_data
// CHECK-NOT: litec.target
// CHECK: func.return

// DUMP: // -----// IR Dump After partition //----- //
// DUMP: tfl.reshape {{.*}}litec.target = "cpu"

// ERR: litec: error: unknown target 'tpu' (installed backends: cpu)
