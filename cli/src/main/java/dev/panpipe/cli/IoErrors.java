package dev.panpipe.cli;

import javax.imageio.IIOException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * File errors as a person reads them. The JDK's own messages are the path alone for some
 * ({@code NoSuchFileException: nope.txt}, {@code FileAlreadyExistsException: dir}) and an exception class
 * name for others; the commands name the file themselves and add {@link #reason} after it.
 */
public final class IoErrors {
    private IoErrors() {
    }

    /** What went wrong, without the path: "no such file or directory", "Not a directory", "No space left on device". */
    public static String reason(IOException e) {
        return switch (e) {
            case NoSuchFileException n -> "no such file or directory";
            case AccessDeniedException a -> "permission denied";
            case FileAlreadyExistsException f -> f.getFile() != null && !Files.isDirectory(Path.of(f.getFile()))
                    ? "exists and is not a directory" : "exists already";      // thrown where a folder was to be made
            case FileSystemException f when f.getReason() != null -> f.getReason();
            // ImageIO wraps the stream's error when it writes: "I/O error writing PNG file!"
            case IIOException i when i.getCause() instanceof IOException cause -> reason(cause);
            default -> e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        };
    }

    /** "FILE: reason" if the error names a file, else its message: for errors whose message may name the file already. */
    public static String describe(IOException e) {
        return e instanceof FileSystemException f && f.getFile() != null ? f.getFile() + ": " + reason(e) : reason(e);
    }

    /**
     * True for EPIPE, the reader of a pipe gone: the JDK's streams have no type for it, only strerror's text.
     * Every command ends quietly with {@link Main#EXIT_BROKEN_PIPE} then, as SIGPIPE ends a C program.
     */
    public static boolean isBrokenPipe(IOException e) {
        return "Broken pipe".equals(e.getMessage());
    }

    /** The file an error names, if it names one, else {@code fallback}. */
    public static String file(IOException e, Object fallback) {
        return e instanceof FileSystemException f && f.getFile() != null ? f.getFile() : String.valueOf(fallback);
    }
}
