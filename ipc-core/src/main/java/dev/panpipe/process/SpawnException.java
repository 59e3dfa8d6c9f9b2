package dev.panpipe.process;

import java.io.IOException;

/** A process could not be started; the message names the program and why. */
public class SpawnException extends IOException {
    private final String program;

    public SpawnException(String program, String message, Throwable cause) {
        super(message, cause);
        this.program = program;
    }

    /** The program as it was asked for (argv[0]). */
    public String program() {
        return program;
    }
}
