// Implementation pending (gossip issue).
