package dev.panpipe.process;

/**
 * How a process ended: it exited with a code, or a signal killed it. The two are kept apart, never
 * folded into one number, except on request by {@link #shellCode()}.
 */
public record ExitStatus(boolean exited, int code, int signal, boolean coreDumped) {

    public static ExitStatus exited(int code) {
        return new ExitStatus(true, code, 0, false);
    }

    public static ExitStatus killed(int signal, boolean coreDumped) {
        return new ExitStatus(false, -1, signal, coreDumped);
    }

    /** True if the process exited with code 0. */
    public boolean success() {
        return exited && code == 0;
    }

    /** True if a signal ended the process. */
    public boolean signaled() {
        return !exited;
    }

    /** The status as a POSIX shell reports it in {@code $?}: the exit code, or 128 + the signal number. */
    public int shellCode() {
        return exited ? code : 128 + signal;
    }

    @Override
    public String toString() {
        return exited ? "exit code " + code : "killed by " + Signals.name(signal) + (coreDumped ? " (core dumped)" : "");
    }
}
