package dev.keel.loss;

import java.io.IOException;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Tensor;

/** The GRPO fixture's readers, for the online DPO parity test in another package. */
public final class TrlGrpoParityTestAccess {
    private TrlGrpoParityTestAccess() {}

    public static JsonNode fixture() throws IOException {
        return TrlGrpoParityTest.fixture();
    }

    public static Tensor matrix(JsonNode rows) {
        return TrlGrpoParityTest.matrix(rows);
    }

    public static Tensor vector(JsonNode a) {
        return TrlGrpoParityTest.vector(a);
    }
}
