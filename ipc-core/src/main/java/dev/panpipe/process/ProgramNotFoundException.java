package dev.panpipe.process;

/**
 * The program to start does not exist, is not a regular file, or may not be executed: reported before
 * any process exists, instead of as a child that exits 127.
 *
 * <p>{@link #exists()} tells the two cases apart as bash does in its exit status ({@link #shellCode()}):
 * 127 for a program that is not there, 126 for one that is there but cannot be run. What execve loads on
 * a program's behalf counts as the program: a script whose {@code #!} interpreter is missing, or a binary
 * whose dynamic loader is, is not there to run (ENOENT, 127), and the message says which file is missing.
 * A file in no executable format (ENOEXEC) is there but cannot be run (126).
 */
public final class ProgramNotFoundException extends SpawnException {
    private final boolean exists;

    /** A program that does not exist (bash: 127). */
    public ProgramNotFoundException(String program, String message, Throwable cause) {
        this(program, message, cause, false);
    }

    /** @param exists true if the program exists but may not be executed (bash: 126) */
    public ProgramNotFoundException(String program, String message, Throwable cause, boolean exists) {
        super(program, message, cause);
        this.exists = exists;
    }

    /**
     * True if something is there under the program's name, but it may not be executed (no execute
     * permission, a directory, a path through a regular file, no executable format). False if there is
     * nothing to run: no such file, or a missing {@code #!} interpreter or dynamic loader.
     */
    public boolean exists() {
        return exists;
    }

    @Override
    public int shellCode() {
        return exists ? SHELL_CANNOT_EXECUTE : SHELL_NOT_FOUND;
    }
}
