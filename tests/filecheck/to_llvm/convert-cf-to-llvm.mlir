// convert-cf-to-llvm: cf branches become llvm.br / llvm.cond_br, non-entry block arguments
// take their llvm types (index -> i64); the entry block and other dialects are left alone.
// cf.switch has no lowering: a one-line error (the ERR run uncomments the case at the end).
// RUN: litec opt %s -p convert-cf-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p convert-cf-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @count(%n: index) -> index {
    %zero = arith.constant 0 : index
    %one = arith.constant 1 : index
    cf.br ^loop(%zero : index)
  ^loop(%i: index):
    %more = arith.cmpi slt, %i, %n : index
    cf.cond_br %more, ^body, ^done
  ^body:
    %next = arith.addi %i, %one : index
    cf.br ^loop(%next : index)
  ^done:
    func.return %i : index
  }
}

// CHECK-LABEL: func.func @count(%n: index{{.*}}) -> index {
// CHECK:       %[[ZERO:.*]] = arith.constant 0 : index
// CHECK-NEXT:  %[[Z64:.*]] = builtin.unrealized_conversion_cast %[[ZERO]] : index to i64
// CHECK-NEXT:  arith.constant 1 : index
// CHECK-NEXT:  llvm.br ^[[LOOP:.*]](%[[Z64]] : i64)
// CHECK-NEXT: ^[[LOOP]](%[[I:[a-z0-9_]+]]: i64{{.*}}):
// CHECK-NEXT:  %[[IX:.*]] = builtin.unrealized_conversion_cast %[[I]] : i64 to index
// CHECK-NEXT:  %[[MORE:.*]] = arith.cmpi slt, %[[IX]], %n : index
// CHECK-NEXT:  llvm.cond_br %[[MORE]], ^{{.*}}, ^{{.*}}
// CHECK:       arith.addi %[[IX]], %{{.*}} : index
// CHECK:       llvm.br ^[[LOOP]](%{{.*}} : i64)
// CHECK:       func.return %[[IX]] : index
// CHECK-NOT:   cf.

// BAD: builtin.module {
// BAD:   func.func @switch(%flag: i32) {
// BAD:     cf.switch %flag : i32, [
// BAD:       default: ^end
// BAD:     ]
// BAD:   ^end:
// BAD:     func.return
// BAD:   }
// BAD: }

// ERR: litec: error: cf.switch: no lowering to the llvm dialect
