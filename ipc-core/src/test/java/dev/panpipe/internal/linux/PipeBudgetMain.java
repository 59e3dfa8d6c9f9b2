package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.Pipe;
import dev.panpipe.io.WriteEnd;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;

import java.util.ArrayList;
import java.util.List;

/**
 * Starts 40 children with stdin and stdout piped (80 pipes of 1 MiB asked), as an unprivileged user
 * ({@link PipeBudgetTest} runs it under setpriv), and prints what the kernel gave: the first child's stdin
 * pipe, the last's, a pipe made afterwards, the budget held, and after every child is closed, the budget
 * held and a new child's stdin pipe. One line, "key=value" words.
 */
final class PipeBudgetMain {
    private PipeBudgetMain() {
    }

    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder("limit=" + PipeBudget.LIMIT);
        List<Subprocess> children = new ArrayList<>();
        try {
            for (int i = 0; i < 40; i++) {
                children.add(Subprocess.builder("cat").stdin(Redirect.pipe()).stdout(Redirect.pipe())
                        .stderr(Redirect.discard()).start());
            }
            out.append(" first=").append(size(children.getFirst().stdin()));
            out.append(" last=").append(size(children.getLast().stdin()));
            try (Pipe fresh = Pipe.open()) {
                out.append(" fresh=").append(fresh.capacity());
            }
            out.append(" held=").append(PipeBudget.held());
        } finally {
            for (Subprocess c : children) c.close();
        }
        out.append(" heldAfterClose=").append(PipeBudget.held());
        try (Subprocess again = Subprocess.builder("cat").stdin(Redirect.pipe()).stdout(Redirect.pipe()).start()) {
            out.append(" again=").append(size(again.stdin()));
        }
        System.out.println(out);
    }

    private static int size(WriteEnd end) throws Exception {
        return Syscalls.fcntl((int) end.nativeHandle(), linux_h.F_GETPIPE_SZ(), 0);
    }
}
