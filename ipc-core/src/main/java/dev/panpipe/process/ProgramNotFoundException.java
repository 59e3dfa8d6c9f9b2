package dev.panpipe.process;

/**
 * The program to start does not exist, is not a regular file, or may not be executed: reported before
 * any process exists, instead of as a child that exits 127.
 */
public final class ProgramNotFoundException extends SpawnException {
    public ProgramNotFoundException(String program, String message, Throwable cause) {
        super(program, message, cause);
    }
}
