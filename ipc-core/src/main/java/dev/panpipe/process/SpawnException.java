package dev.panpipe.process;

import java.io.IOException;

/**
 * A process could not be started; the message names the program and why. When {@code posix_spawn} itself
 * failed, the message names its errno (ETXTBSY for a program open for writing, say) and the cause is the
 * {@link dev.panpipe.bindings.SyscallException} that carries it.
 */
public class SpawnException extends IOException {
    /** bash's status for a command it found but could not execute ({@code EX_NOEXEC}). */
    public static final int SHELL_CANNOT_EXECUTE = 126;
    /** bash's status for a command it did not find ({@code EX_NOTFOUND}). */
    public static final int SHELL_NOT_FOUND = 127;

    private final String program;

    public SpawnException(String program, String message, Throwable cause) {
        super(message, cause);
        this.program = program;
    }

    /** The program as it was asked for (argv[0]). */
    public String program() {
        return program;
    }

    /**
     * The status bash reports for the same failure: {@value #SHELL_NOT_FOUND} when there is no such
     * program (or its {@code #!} interpreter is missing), {@value #SHELL_CANNOT_EXECUTE} when there is one
     * that cannot be executed (permission, a directory, an exec that failed for another reason).
     */
    public int shellCode() {
        return SHELL_CANNOT_EXECUTE;
    }
}
