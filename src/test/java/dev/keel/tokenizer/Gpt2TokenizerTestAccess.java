package dev.keel.tokenizer;

import java.io.IOException;
import java.nio.file.Path;

/** Lets tests in other packages build a GPT-2 tokenizer folder. */
public final class Gpt2TokenizerTestAccess {
    private Gpt2TokenizerTestAccess() {}

    public static Path buildGpt2TokenizerDir(Path dir) throws IOException {
        return Gpt2TokenizerTest.buildGpt2TokenizerDir(dir);
    }
}
