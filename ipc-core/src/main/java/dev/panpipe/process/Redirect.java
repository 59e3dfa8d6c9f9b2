package dev.panpipe.process;

import dev.panpipe.io.ReadEnd;
import dev.panpipe.io.WriteEnd;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where one of a child's standard streams (or an extra fd) comes from or goes to.
 *
 * <p>Only what a Redirect names reaches the child: every other fd of the parent is closed in the child,
 * whether or not it was close-on-exec.
 */
public sealed interface Redirect {
    /** A new pipe; the parent's end is {@link Subprocess#stdin()}, {@link Subprocess#stdout()} or {@link Subprocess#stderr()}. */
    static Redirect pipe() {
        return Pipe.INSTANCE;
    }

    /** The parent's own fd of the same number (its stdin, stdout or stderr). */
    static Redirect inherit() {
        return Inherit.INSTANCE;
    }

    /** {@code /dev/null}. */
    static Redirect discard() {
        return DevNull.INSTANCE;
    }

    /** A file opened for reading (the parent opens it, so a missing file is the parent's error, naming the path). */
    static Redirect from(Path file) {
        return new FromFile(Objects.requireNonNull(file));
    }

    /** A file created or truncated for writing, mode 0644 as a shell's {@code >} would (less the umask). */
    static Redirect to(Path file) {
        return new ToFile(Objects.requireNonNull(file), false);
    }

    /** A file created or appended to, as a shell's {@code >>}. */
    static Redirect appendTo(Path file) {
        return new ToFile(Objects.requireNonNull(file), true);
    }

    /**
     * One of the parent's read ends, for example another process's stdout pipe: the two children are then
     * connected fd-to-fd, and no byte passes through the JVM. The parent keeps its copy and still owns it.
     */
    static Redirect from(ReadEnd end) {
        return new FromEnd(Objects.requireNonNull(end));
    }

    /** One of the parent's write ends; the parent keeps its copy and still owns it. */
    static Redirect to(WriteEnd end) {
        return new ToEnd(Objects.requireNonNull(end));
    }

    /** Any fd of the parent's, by number, for fds panpipe did not open (the parent keeps it). */
    static Redirect fd(int fd) {
        if (fd < 0) throw new IllegalArgumentException("negative fd: " + fd);
        return new RawFd(fd);
    }

    /** For stderr only: the same place as the child's stdout ({@code 2>&1}). */
    static Redirect toStdout() {
        return ToStdout.INSTANCE;
    }

    enum Pipe implements Redirect { INSTANCE }

    enum Inherit implements Redirect { INSTANCE }

    enum DevNull implements Redirect { INSTANCE }

    enum ToStdout implements Redirect { INSTANCE }

    record FromFile(Path file) implements Redirect {
    }

    record ToFile(Path file, boolean append) implements Redirect {
    }

    record FromEnd(ReadEnd end) implements Redirect {
    }

    record ToEnd(WriteEnd end) implements Redirect {
    }

    record RawFd(int fd) implements Redirect {
    }
}
