package dev.panpipe.cli;

/** Placeholder replaced by the picocli entry point in the next commit. */
public final class Main {
    public static void main(String[] args) {
    }
}
