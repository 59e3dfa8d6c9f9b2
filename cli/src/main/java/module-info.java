/** The panpipe command line: {@code scripts/panpipe} runs {@code dev.panpipe.cli.Main}. */
module dev.panpipe.cli {
    requires dev.panpipe.core;
    requires dev.panpipe.zerocopy;
    requires info.picocli;

    opens dev.panpipe.cli to info.picocli;
}
