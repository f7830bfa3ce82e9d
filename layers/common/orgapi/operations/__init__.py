"""Business rules of each operation: (Request, Services) -> Result. No HTTP parsing here, no Logto transport."""
