// The pass manager's instruments on a real pipeline: print after one pass, timing, verifier
// and numeric checks after each pass; --list-passes; an unknown pass is a one-line error.
// RUN: litec opt %s -p 'partition,partition{target=cpu}' --print-ir-after partition --verify-each --verify-numerics --pass-timing 2>&1 >/dev/null | filecheck %s
// RUN: litec opt --list-passes | filecheck %s --check-prefix=LIST
// RUN: not litec opt %s -p 'no-such-pass' 2>&1 | filecheck %s --check-prefix=ERR
// RUN: not litec opt 2>&1 | filecheck %s --check-prefix=NOINPUT

builtin.module {
  func.func @main(%x: tensor<2x4xf32> {tfl.name = "x"}) -> (tensor<2x4xf32> {tfl.name = "y"}) {
    %y = tfl.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
    func.return %y : tensor<2x4xf32>
  }
}

// CHECK: // -----// IR Dump After partition //----- //
// CHECK: tfl.relu {{.*}}litec.target = "cpu"
// CHECK: // -----// IR Dump After partition //----- //
// CHECK: pass execution timing report
// CHECK: partition
// CHECK-NEXT: partition

// LIST: partition {{ +}}Record every op's placement
// LIST-NEXT: options: target: str = 'cpu'

// ERR: litec: error: bad pass pipeline 'no-such-pass': {{.*}}known passes:

// NOINPUT: litec: error: opt needs an input file (or --list-passes)
