package join

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

const (
	// HelloPath and RequestPath are the two join endpoints.
	HelloPath   = "/join/v1/hello"
	RequestPath = "/join/v1/request"
	// DefaultPort is the join server's TCP port and the discovery UDP port.
	DefaultPort = 7410
)

// Action is what the joining node does (the installer's answers.Action
// values "replace" and "recover"; kept as a type of its own so that the
// cluster packages do not depend on the installer).
type Action string

const (
	// Replace joins a node with empty disks: a first node1, or a new board
	// taking over a failed node's identity.
	Replace Action = "replace"
	// Recover rejoins a node the system knows, keeping its data.
	Recover Action = "recover"
)

// NodeChoice is the node id a joiner asks for. The zero value is "any", so
// a forgotten field never silently asks for node0. JSON: "any" or 0/1.
type NodeChoice struct {
	id  int
	set bool
}

// AnyNode lets the system choose.
var AnyNode = NodeChoice{}

// Node asks for node id.
func Node(id int) NodeChoice { return NodeChoice{id: id, set: true} }

// ID returns the wanted id, ok false for "any".
func (c NodeChoice) ID() (id int, ok bool) { return c.id, c.set }

func (c NodeChoice) String() string {
	if !c.set {
		return "any"
	}
	return "node" + strconv.Itoa(c.id)
}

// MarshalJSON writes "any" or the id.
func (c NodeChoice) MarshalJSON() ([]byte, error) {
	if !c.set {
		return []byte(`"any"`), nil
	}
	return []byte(strconv.Itoa(c.id)), nil
}

// UnmarshalJSON reads "any" (or null/absent) or an integer id.
func (c *NodeChoice) UnmarshalJSON(b []byte) error {
	switch s := string(b); s {
	case `"any"`, "null":
		*c = AnyNode
		return nil
	default:
		id, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("node_id %s: want \"any\" or a node id", s)
		}
		*c = Node(id)
		return nil
	}
}

// Hello is the answer to GET /join/v1/hello: who the system is, before the
// joiner trusts it.
type Hello struct {
	SystemName   string       `json:"system_name"`
	SystemID     string       `json:"system_id"`
	CACert       string       `json:"ca_cert"` // PEM
	HealthyNodes int          `json:"healthy_nodes"`
	Nodes        []NodeStatus `json:"nodes"`
}

// NodeStatus is one known node as the hello shows it.
type NodeStatus struct {
	ID       int    `json:"id"`
	Hostname string `json:"hostname"`
	Healthy  bool   `json:"healthy"`
}

// Request is the body of POST /join/v1/request.
type Request struct {
	Action   Action     `json:"action"`
	Hostname string     `json:"hostname"`
	NodeID   NodeChoice `json:"node_id"`
	// CSR is a PEM CERTIFICATE REQUEST: the joiner's public key with
	// proof that it holds the private key. Only the key is taken from it.
	CSR string `json:"csr"`
	// NodeIP is the node's own management address as installed (static),
	// "" with DHCP. A replace of a known node gets the recorded IP back
	// instead (SystemConfig.NodeIP).
	NodeIP string `json:"node_ip,omitempty"`
	// IPs are more addresses for the certificate (e.g. priv0's link-local).
	IPs   []string `json:"ips,omitempty"`
	Token string   `json:"token,omitempty"`
}

// Response is the answer to an accepted request.
type Response struct {
	NodeID int    `json:"node_id"`
	Cert   string `json:"cert"`    // PEM, the joiner's node certificate
	CACert string `json:"ca_cert"` // PEM
	// CAKey is the CA key (PKCS#8 PEM) when the server shares it: the
	// joined node must be able to admit a replacement of the other node
	// when it is the survivor.
	CAKey  string       `json:"ca_key,omitempty"`
	Config SystemConfig `json:"config"`
}

// SystemConfig is what a joined node needs to know about its system.
type SystemConfig struct {
	SystemName string `json:"system_name"`
	SystemID   string `json:"system_id"`
	SystemIP   string `json:"system_ip"`
	NodeID     int    `json:"node_id"` // the joined node's id
	// NodeIP is the management address the system has for this node: the
	// old one on a replace of a known node, else the request's.
	NodeIP     string     `json:"node_ip,omitempty"`
	PeerNodeID int        `json:"peer_node_id"`
	PeerPriv0  string     `json:"peer_priv0"` // the peer's link-local address on priv0, without zone
	Nodes      []NodeInfo `json:"nodes"`      // every node, by id
	// Witnesses are the system's witnesses (host:port), 0 to 2.
	Witnesses []string `json:"witnesses,omitempty"`
	// Secrets make the joined node a member. They travel only in the
	// response of step 3, over TLS verified against the accepted CA.
	Secrets Secrets `json:"secrets"`
}

// Secrets are the system's shared secrets.
type Secrets struct {
	// HeartbeatKey authenticates heartbeats (hex, agent/heartbeat.KeySize bytes).
	HeartbeatKey string `json:"heartbeat_key"`
	// AdminPasswordHash is the administrator's crypt(3) hash: the API
	// answers on either node with the same account.
	AdminPasswordHash string `json:"admin_password_hash"`
	// WitnessSecret is the witnesses' shared secret (hex), "" without witnesses.
	WitnessSecret string `json:"witness_secret,omitempty"`
}

// NodeInfo is one node in SystemConfig.
type NodeInfo struct {
	ID       int    `json:"id"`
	Hostname string `json:"hostname"`
	IP       string `json:"ip,omitempty"`
}

// Refusal codes, stable for programs; Message is for people.
const (
	CodeBadRequest   = "bad-request"
	CodeBadToken     = "bad-token"
	CodeSystemFull   = "system-full"   // two healthy nodes already
	CodeUnknownNode  = "unknown-node"  // recover of a node id the system does not know
	CodeNodeHealthy  = "node-healthy"  // replace/recover of a healthy node
	CodeNodeBusy     = "node-busy"     // another joiner took this node moments ago
	CodeServerFailed = "server-failed" // the server could not complete (issue, store)
)

// Refusal is a refused join: the JSON error body and the error the joiner
// gets back.
type Refusal struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (r *Refusal) Error() string { return r.Message }

func refuse(status int, code, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func conflict(code, format string, args ...any) *Refusal {
	return refuse(http.StatusConflict, code, format, args...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encoding failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
