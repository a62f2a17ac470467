package config

// Experimental switches on unstable Matrix features (MSCs not in the
// spec), each off by default.
type Experimental struct {
	// SelfDestructingMessages prunes messages whose content carries
	// org.matrix.self_destruct_after once that time passes (MSC2228;
	// Synapse's enable_ephemeral_messages).
	SelfDestructingMessages bool `yaml:"self_destructing_messages" env:"EXPERIMENTAL_SELF_DESTRUCTING_MESSAGES"`
}
