// convert-func-to-llvm: functions take the bare-pointer ABI (one !llvm.ptr per memref,
// index as i64), keep their llvm.* argument attributes, and private ones become internal;
// returns and calls follow. Ops of other dialects are left alone. A function returning two
// values is a one-line error (the ERR run uncomments the case at the end).
// RUN: litec opt %s -p convert-func-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p convert-func-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @kernel(%in: memref<4x8xf32> {llvm.noalias}, %out: memref<32xf32>, %n: index) {
    %x = func.call @helper(%n) : (index) -> f32
    memref.store %x, %out[%n] : memref<32xf32>
    func.return
  }
  func.func private @helper(%i: index) -> f32 {
    %c = arith.constant 1.0 : f32
    func.return %c : f32
  }
}

// CHECK-LABEL: llvm.func @kernel(%in: !llvm.ptr {llvm.noalias}{{.*}}, %out: !llvm.ptr{{.*}}, %n: i64{{.*}}) {
// CHECK-DAG:   %[[IN:.*]] = builtin.unrealized_conversion_cast %in : !llvm.ptr to memref<4x8xf32>
// CHECK-DAG:   %[[OUT:.*]] = builtin.unrealized_conversion_cast %out : !llvm.ptr to memref<32xf32>
// CHECK-DAG:   %[[N:.*]] = builtin.unrealized_conversion_cast %n : i64 to index
// CHECK:       %[[X:.*]] = llvm.call @helper(%n) : (i64) -> f32
// CHECK-NEXT:  memref.store %[[X]], %[[OUT]][%[[N]]] : memref<32xf32>
// CHECK-NEXT:  llvm.return
// CHECK-LABEL: llvm.func internal @helper(%i: i64{{.*}}) -> f32 {
// CHECK:       arith.constant 1.000000e+00 : f32
// CHECK:       llvm.return %{{.*}} : f32

// BAD: builtin.module {
// BAD:   func.func @two(%a: f32) -> (f32, f32) {
// BAD:     func.return %a, %a : f32, f32
// BAD:   }
// BAD: }

// ERR: litec: error: func.func: functions return at most one value
